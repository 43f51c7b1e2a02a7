import { columnName } from "../codecs/binlog/rows/output.ts";
import type { RowsEvent, TableMapEvent } from "../codecs/binlog/rows/types.ts";
import type { BinlogPosition } from "../codecs/binlog/types.ts";
import { SluiceError } from "../core/errors.ts";
import {
  type ChangeEnvelope,
  type JsonValue,
  namedImage,
  sameJson,
  type TransactionRef,
} from "./envelope.ts";
import { ChangeFilter, type ChangeKind, type FilterSpec } from "./filter.ts";

/**
 * The pure heart of `sluice cdc`: decoded binlog events in (GTID -> TABLE_MAP -> ROWS... -> XID),
 * change envelopes out, in chunks of at most `chunkRows` row changes, with the filters applied as
 * soon as the table is known. No I/O and no clock: the runner feeds events and hands the output to
 * a sink and the checkpoint store. Memory is bounded by one chunk whatever the transaction size.
 */

/** What every input event carries. `timestamp` is the event header's (seconds). */
export interface EventMeta {
  position: BinlogPosition;
  timestamp: number;
  serverId: number;
}

/** The events the transformer needs, normalized from the decoder's union by `fromDecodedEvent`. */
export type CdcInput =
  /** A GTID event (MariaDB or MySQL) or, without GTIDs, the QUERY `BEGIN`. */
  | (EventMeta & {
      type: "begin";
      gtid: string | null;
      /** MariaDB's GTID flag: a stand-alone event group (DDL) that has no BEGIN and no XID. */
      standalone?: boolean;
    })
  | (EventMeta & { type: "rows"; event: RowsEvent })
  /** XID, or the QUERY `COMMIT` of a non-transactional engine. */
  | (EventMeta & { type: "commit" })
  /**
   * Any other QUERY: DDL ends a GTID group that has no BEGIN; inside a BEGIN..COMMIT group it is a
   * statement of the transaction (statement or mixed format) and changes nothing here.
   */
  | (EventMeta & { type: "ddl"; database: string; query: string })
  | (EventMeta & { type: "rotate"; nextFile: string; nextPosition: number })
  /** The server's heartbeat: nothing new up to now. */
  | (EventMeta & { type: "heartbeat" });

/** Where to resume so that nothing after the last finished transaction is missed. */
export interface ResumePoint {
  file: string;
  offset: number;
  /** GTID of the last finished transaction, when known. */
  gtid: string | null;
  /** Timestamp of the event that finished it (seconds), 0 when unknown. */
  timestamp: number;
}

export interface TransactionSummary extends TransactionRef {
  gtid: string | null;
  serverId: number;
  timestamp: number;
  /** Row changes in the transaction, and how many passed the filters. */
  rowsSeen: number;
  rowsKept: number;
  chunks: number;
}

export type CdcOutput =
  | {
      type: "chunk";
      transaction: TransactionSummary;
      chunk: number;
      last: boolean;
      changes: ChangeEnvelope[];
    }
  | { type: "commit"; transaction: TransactionSummary; resume: ResumePoint }
  | { type: "ddl"; database: string; query: string; gtid: string | null; resume: ResumePoint }
  /** Progress outside transactions (rotate, heartbeat): the resume point moved, nothing to store. */
  | { type: "progress"; resume: ResumePoint; heartbeat: boolean };

export interface TransformerOptions {
  filter?: FilterSpec | ChangeFilter;
  /** Row changes per chunk (default 1000). */
  chunkRows?: number;
  /** Primary key column names when the table map does not carry them (binlog_row_metadata=MINIMAL). */
  primaryKeyOf?: (schema: string, table: string) => readonly string[] | undefined;
}

interface OpenTransaction {
  summary: TransactionSummary;
  buffer: ChangeEnvelope[];
  /** Opened by BEGIN (or a MariaDB GTID that is not stand-alone): only XID/COMMIT ends it. */
  explicit: boolean;
}

interface TableShape {
  names: string[];
  pk: string[] | undefined;
}

const KIND_OF: Record<RowsEvent["kind"], ChangeKind> = {
  write: "insert",
  update: "update",
  delete: "delete",
};

export class ChangeTransformer {
  readonly filter: ChangeFilter;
  private readonly chunkRows: number;
  private readonly primaryKeyOf: TransformerOptions["primaryKeyOf"];
  private readonly shapes = new WeakMap<TableMapEvent, TableShape>();
  private tx: OpenTransaction | undefined;
  /** Totals since creation, for metrics and progress. */
  readonly stats = { events: 0, transactions: 0, rowsSeen: 0, rowsKept: 0 };

  constructor(opts: TransformerOptions = {}) {
    this.filter = opts.filter instanceof ChangeFilter ? opts.filter : new ChangeFilter(opts.filter);
    this.chunkRows = opts.chunkRows ?? 1000;
    if (!Number.isInteger(this.chunkRows) || this.chunkRows < 1) {
      throw new SluiceError("CDC_OPTION", `chunk size must be a positive integer, got ${this.chunkRows}`);
    }
    this.primaryKeyOf = opts.primaryKeyOf;
  }

  /** True when the transformer is inside a transaction (a checkpoint now would cut it). */
  get inTransaction(): boolean {
    return this.tx !== undefined;
  }

  /** Would rows of this table be kept at all? Lets a source skip decoding rows nobody wants. */
  wantsTable(schema: string, table: string): boolean {
    return this.filter.plan(schema, table).keep;
  }

  /** Feeds one event; returns what it completes (zero or more outputs, in order). */
  push(ev: CdcInput): CdcOutput[] {
    this.stats.events++;
    switch (ev.type) {
      case "begin":
        return this.begin(ev, ev.gtid, ev.standalone);
      case "rows":
        return this.rows(ev);
      case "commit":
        return this.commit(ev);
      case "ddl": {
        if (this.tx?.explicit) return [];
        const gtid = this.tx?.summary.gtid ?? null;
        const out = this.tx ? this.commit(ev) : [];
        out.push({
          type: "ddl",
          database: ev.database,
          query: ev.query,
          gtid,
          resume: this.resumeAfter(ev, gtid),
        });
        return out;
      }
      case "rotate":
        return [
          {
            type: "progress",
            resume: {
              file: ev.nextFile,
              offset: ev.nextPosition,
              gtid: this.lastGtid,
              timestamp: ev.timestamp,
            },
            heartbeat: false,
          },
        ];
      case "heartbeat":
        return this.tx
          ? []
          : [{ type: "progress", resume: this.resumeAfter(ev, this.lastGtid), heartbeat: true }];
    }
  }

  private lastGtid: string | null = null;

  private resumeAfter(ev: EventMeta, gtid: string | null): ResumePoint {
    return { file: ev.position.file, offset: ev.position.next, gtid, timestamp: ev.timestamp };
  }

  private begin(ev: EventMeta, gtid: string | null, standalone: boolean | undefined): CdcOutput[] {
    // A GTID event followed by a QUERY BEGIN (MySQL) is one transaction, not two.
    if (this.tx && gtid === null && this.tx.summary.rowsSeen === 0) {
      this.tx.explicit = true;
      return [];
    }
    if (this.tx) {
      throw new SluiceError("CDC_SEQUENCE", "a transaction began before the previous one ended", {
        context: { file: ev.position.file, offset: ev.position.offset, open: this.tx.summary.id },
        hint: "the event stream lost events; restart from the last checkpoint",
      });
    }
    const file = ev.position.file;
    const offset = ev.position.offset;
    this.tx = {
      summary: {
        id: gtid ?? `${file}:${offset}`,
        file,
        offset,
        gtid,
        serverId: ev.serverId,
        timestamp: ev.timestamp,
        rowsSeen: 0,
        rowsKept: 0,
        chunks: 0,
      },
      buffer: [],
      explicit: gtid === null || standalone === false,
    };
    return [];
  }

  private shape(t: TableMapEvent): TableShape {
    let s = this.shapes.get(t);
    if (s) return s;
    const names = t.columns.map(columnName);
    let pk: string[] | undefined;
    if (t.primaryKey && t.primaryKey.length > 0) pk = t.primaryKey.map((k) => names[k.column]!);
    else {
      const known = this.primaryKeyOf?.(t.schema, t.table);
      if (known && known.length > 0) pk = [...known];
    }
    s = { names, pk };
    this.shapes.set(t, s);
    return s;
  }

  private rows(ev: EventMeta & { event: RowsEvent }): CdcOutput[] {
    const re = ev.event;
    if (!this.tx) {
      // Rows outside BEGIN..COMMIT happen only when the stream starts mid-transaction.
      throw new SluiceError("CDC_SEQUENCE", "rows event outside a transaction", {
        context: {
          file: ev.position.file,
          offset: ev.position.offset,
          table: `${re.table.schema}.${re.table.table}`,
        },
        hint: "start from a transaction boundary (a GTID or the position after an XID)",
      });
    }
    const tx = this.tx;
    tx.summary.rowsSeen += re.rows.length;
    this.stats.rowsSeen += re.rows.length;
    const { schema, table } = re.table;
    const plan = this.filter.plan(schema, table);
    const kind = KIND_OF[re.kind];
    if (!plan.keep || !plan.kinds.has(kind)) return [];
    const shape = this.shape(re.table);
    const where = this.filter.where;
    const out: CdcOutput[] = [];
    for (let i = 0; i < re.rows.length; i++) {
      const row = re.rows[i]!;
      const before = row.before
        ? namedImage(row.before, re.table.columns, shape.names, undefined)
        : undefined;
      const after = row.after ? namedImage(row.after, re.table.columns, shape.names, undefined) : undefined;
      if (where && !where({ kind, schema, table, before, after })) continue;
      const identity = kind === "insert" ? after : before;
      let pk: Record<string, JsonValue> | null = null;
      if (shape.pk && identity) {
        pk = {};
        for (const name of shape.pk) pk[name] = identity[name] ?? null;
      }
      const env: ChangeEnvelope = {
        v: 1,
        source: {
          serverId: ev.serverId,
          file: ev.position.file,
          offset: ev.position.offset,
          row: i,
          gtid: tx.summary.gtid,
          timestamp: ev.timestamp,
        },
        transaction: {
          id: tx.summary.id,
          file: tx.summary.file,
          offset: tx.summary.offset,
          chunk: 0,
          last: false,
        },
        schema,
        table,
        kind,
        pk,
      };
      const keep = plan.column;
      if (kind === "update" && before && after) {
        const changed: string[] = [];
        for (const name of shape.names) {
          if (!(name in after) || (keep && !keep(name))) continue;
          if (!(name in before) || !sameJson(before[name], after[name])) changed.push(name);
        }
        // An update that changed only filtered-out columns is no change worth recording.
        if (changed.length === 0) continue;
        env.before = keep ? pick(before, keep) : before;
        env.after = keep ? pick(after, keep) : after;
        env.changed = changed;
      } else {
        if (before) env.before = keep ? pick(before, keep) : before;
        if (after) env.after = keep ? pick(after, keep) : after;
      }
      if (tx.buffer.length === this.chunkRows) out.push(this.flush(false));
      tx.buffer.push(env);
      tx.summary.rowsKept++;
      this.stats.rowsKept++;
    }
    return out;
  }

  private flush(last: boolean): CdcOutput {
    const tx = this.tx!;
    const chunk = tx.summary.chunks++;
    const changes = tx.buffer;
    for (const c of changes) {
      c.transaction.chunk = chunk;
      c.transaction.last = last;
    }
    tx.buffer = [];
    return { type: "chunk", transaction: { ...tx.summary }, chunk, last, changes };
  }

  private commit(ev: EventMeta): CdcOutput[] {
    const tx = this.tx;
    if (!tx) return [{ type: "progress", resume: this.resumeAfter(ev, this.lastGtid), heartbeat: false }];
    const out: CdcOutput[] = [];
    if (tx.buffer.length > 0) out.push(this.flush(true));
    this.tx = undefined;
    this.stats.transactions++;
    if (tx.summary.gtid) this.lastGtid = tx.summary.gtid;
    out.push({ type: "commit", transaction: { ...tx.summary }, resume: this.resumeAfter(ev, this.lastGtid) });
    return out;
  }
}

function pick(image: Record<string, JsonValue>, keep: (name: string) => boolean): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(image)) if (keep(k)) out[k] = v;
  return out;
}
