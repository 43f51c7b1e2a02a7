import type { ChangeEnvelope } from "../../cdc/envelope.ts";
import { pkText } from "../../cdc/envelope.ts";
import type { ChangeChunk } from "../types.ts";

/**
 * The change-history store, normalized as three tables (the seed's binlog / row / column):
 * - `binlog`: one row per transaction (gtid, file, pos of its first event, server id, timestamp);
 *   unique on (file, pos).
 * - `row`: one per row change (schema, table, kind, primary key); keyed by (binlog_id, event_pos,
 *   row_index): the rows event's offset and the row's index in it.
 * - `column`: one per column value (name, before, after, JSON text); inserts carry after, deletes
 *   before, updates only the columns that changed; keyed by the row's key and the name.
 * Every key is a position, so loading a replayed chunk again inserts nothing (INSERT OR IGNORE /
 * INSERT IGNORE): at-least-once delivery gives exactly-once history.
 */
export interface BinlogRecord {
  gtid: string | null;
  file: string;
  pos: number;
  serverId: number;
  timestamp: number;
}

export function binlogRecordOf(chunk: ChangeChunk): BinlogRecord {
  const t = chunk.transaction;
  return { gtid: t.gtid, file: t.file, pos: t.offset, serverId: t.serverId, timestamp: t.timestamp };
}

/** Calls `fn` for each column record of a change, without building objects (the loaders' hot path). */
export function forEachColumn(
  e: ChangeEnvelope,
  fn: (name: string, ord: number, before: string | null, after: string | null) => void,
): void {
  let ord = 0;
  if (e.kind === "insert") {
    const img = e.after ?? {};
    for (const name in img) fn(name, ord++, null, JSON.stringify(img[name]));
  } else if (e.kind === "delete") {
    const img = e.before ?? {};
    for (const name in img) fn(name, ord++, JSON.stringify(img[name]), null);
  } else {
    for (const name of e.changed ?? []) {
      const b = e.before?.[name];
      const a = e.after?.[name];
      fn(name, ord++, b === undefined ? null : JSON.stringify(b), a === undefined ? null : JSON.stringify(a));
    }
  }
}

/** Row and column parameters of a chunk, flat, in the loaders' column order. */
export function chunkParams(
  binlogId: number,
  changes: readonly ChangeEnvelope[],
): { rows: unknown[][]; columns: unknown[][] } {
  const rows: unknown[][] = [];
  const columns: unknown[][] = [];
  for (const e of changes) {
    const pos = e.source.offset;
    const idx = e.source.row;
    rows.push([binlogId, pos, idx, e.schema, e.table, e.kind, pkText(e.pk)]);
    forEachColumn(e, (name, ord, before, after) =>
      columns.push([binlogId, pos, idx, name, ord, before, after]),
    );
  }
  return { rows, columns };
}

/** One entry of a row's or a table's timeline, as the store returns it. */
export interface HistoryEntry {
  timestamp: number;
  gtid: string | null;
  file: string;
  pos: number;
  serverId: number;
  eventPos: number;
  rowIndex: number;
  schema: string;
  table: string;
  kind: string;
  pk: string | null;
  columns: Array<{ name: string; before: unknown; after: unknown }>;
}

export interface HistoryQuery {
  schema: string;
  table: string;
  /** Primary key text: values joined by ',' in key order. */
  pk?: string;
  /** Seconds since the epoch, inclusive. */
  from?: number;
  to?: number;
  limit?: number;
}

export interface HistoryCounts {
  binlog: number;
  row: number;
  column: number;
}

/** The store as readers and writers see it, whatever the database. */
export interface HistoryStore {
  readonly kind: "sqlite" | "mysql";
  /** Writes one chunk in one database transaction, skipping what is already there. */
  writeChunk(chunk: ChangeChunk): Promise<void>;
  /** Writes several chunks in one database transaction (fewer commits and lock hand-overs). */
  writeChunks(chunks: readonly ChangeChunk[]): Promise<void>;
  query(q: HistoryQuery): Promise<HistoryEntry[]>;
  counts(): Promise<HistoryCounts>;
  close(): Promise<void>;
}

export function parseJsonText(v: string | null): unknown {
  if (v === null) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Groups the joined (row x column) result lines of a query into entries. */
export function groupEntries(
  lines: Array<{
    timestamp: number;
    gtid: string | null;
    file: string;
    pos: number;
    server_id: number;
    event_pos: number;
    row_index: number;
    schema_name: string;
    table_name: string;
    kind: string;
    pk: string | null;
    name: string | null;
    before_value: string | null;
    after_value: string | null;
  }>,
): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let last: HistoryEntry | undefined;
  for (const l of lines) {
    const same =
      last &&
      last.file === l.file &&
      last.pos === Number(l.pos) &&
      last.eventPos === Number(l.event_pos) &&
      last.rowIndex === Number(l.row_index);
    if (!same) {
      last = {
        timestamp: Number(l.timestamp),
        gtid: l.gtid,
        file: l.file,
        pos: Number(l.pos),
        serverId: Number(l.server_id),
        eventPos: Number(l.event_pos),
        rowIndex: Number(l.row_index),
        schema: l.schema_name,
        table: l.table_name,
        kind: l.kind,
        pk: l.pk,
        columns: [],
      };
      out.push(last);
    }
    if (l.name !== null)
      last!.columns.push({
        name: l.name,
        before: parseJsonText(l.before_value),
        after: parseJsonText(l.after_value),
      });
  }
  return out;
}

/** The query both dialects run: the matching rows (limited), then their columns, in history order. */
export function historySql(
  q: HistoryQuery,
  quote: (name: string) => string,
): { sql: string; params: Array<string | number> } {
  const where = ["r.schema_name = ?", "r.table_name = ?"];
  const params: Array<string | number> = [q.schema, q.table];
  if (q.pk !== undefined) {
    where.push("r.pk = ?");
    params.push(q.pk);
  }
  if (q.from !== undefined) {
    where.push("b.timestamp >= ?");
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push("b.timestamp <= ?");
    params.push(q.to);
  }
  params.push(q.limit ?? 1000);
  const sql = `SELECT x.*, c.name, c.before_value, c.after_value FROM (
    SELECT b.timestamp, b.gtid, b.file, b.pos, b.server_id, r.binlog_id, r.event_pos, r.row_index,
           r.schema_name, r.table_name, r.kind, r.pk
    FROM ${quote("row")} r JOIN binlog b ON b.id = r.binlog_id
    WHERE ${where.join(" AND ")}
    ORDER BY b.timestamp, b.file, b.pos, r.event_pos, r.row_index LIMIT ?) x
  LEFT JOIN ${quote("column")} c ON c.binlog_id = x.binlog_id AND c.event_pos = x.event_pos AND c.row_index = x.row_index
  ORDER BY x.timestamp, x.file, x.pos, x.event_pos, x.row_index, c.ord`;
  return { sql, params };
}
