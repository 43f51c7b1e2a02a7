import { crc32 } from "node:zlib";
import { messageOf, SluiceError } from "../../core/errors.ts";
import { decodeFormatDescription } from "./events/format-description.ts";
import { decodeTransactionContext, decodeViewChange } from "./events/group-replication.ts";
import { decodeHeartbeat, decodeHeartbeatV2 } from "./events/heartbeat.ts";
import { decodeIncident } from "./events/incident.ts";
import { decodeIntvar, decodeRand } from "./events/intvar.ts";
import { decodeLoadBlock, decodeLoadFile, decodeStartV3 } from "./events/load.ts";
import {
  decodeMariadbAnnotateRows,
  decodeMariadbBinlogCheckpoint,
  decodeMariadbGtid,
  decodeMariadbGtidList,
  decodeMariadbStartEncryption,
  type MariadbAnnotateRowsData,
} from "./events/mariadb-gtid.ts";
import {
  decodeMysqlGtid,
  decodeMysqlTaggedGtid,
  decodePreviousGtids,
  mysqlGtidText,
} from "./events/mysql-gtid.ts";
import { decodeExecuteLoadQuery, decodeQuery } from "./events/query.ts";
import { decodeRotate } from "./events/rotate.ts";
import { decodeRowsQuery } from "./events/rows-query.ts";
import { decodeTransactionPayload } from "./events/transaction-payload.ts";
import { decodeUserVar } from "./events/user-var.ts";
import { decodeXaPrepare } from "./events/xa-prepare.ts";
import { decodeXid } from "./events/xid.ts";
import type { BinlogEvent, BinlogEventData, EventPosition, RawTypeName, RowsTypeName } from "./events.ts";
import { formatMariadbGtid } from "./gtid.ts";
import { ByteReader } from "./reader.ts";
import * as rowsLayer from "./rows/index.ts";
import type { RowsEventFrame } from "./rows/rows-event.ts";
import type { RowChange, RowsEvent, TableMapEvent } from "./rows/types.ts";
import {
  ChecksumAlgorithm,
  type ChecksumAlgorithmCode,
  COMMON_HEADER_LENGTH,
  defaultFormatContext,
  EventFlag,
  type EventHeader,
  EventType,
  eventTypeName,
  type FormatContext,
  type ServerFlavor,
} from "./types.ts";

/** The row layer's entry points (src/codecs/binlog/rows), plugged in so that this layer does not depend on it. */
export interface RowsCodec {
  decodeTableMapEvent(
    body: Buffer,
    ctx: FormatContext,
    where: { file: string; offset: number },
  ): TableMapEvent;
  decodeRowsEvent(
    body: Buffer,
    typeCode: number,
    ctx: FormatContext,
    tables: ReadonlyMap<bigint, TableMapEvent>,
    where: { file: string; offset: number },
  ): RowsEvent;
  /**
   * Optional: when present, rows events are opened with it (header, bitmaps, table) and their rows
   * are decoded only when `rows.rows` is first read, so that a writer working from the row bytes
   * (src/codecs/binlog/rows-json) skips building values it does not need. The frame of such an event
   * is `deferredRowsFrame(ev.rows)`.
   */
  openRowsEvent?(...args: Parameters<RowsCodec["decodeRowsEvent"]>): RowsEventFrame;
}

/** Where a rows event whose rows are decoded on first read (RowsCodec.openRowsEvent) keeps them. */
const DEFERRED: unique symbol = Symbol("sluice.binlog.deferredRows");
interface Deferred {
  frame: RowsEventFrame;
  where: EventSource;
  payloadOffset: number | undefined;
}
type DeferredRowsEvent = RowsEvent & { [DEFERRED]?: Deferred };

/** The undecoded rows of a rows event opened by RowsCodec.openRowsEvent; undefined for other events. */
export function deferredRowsFrame(rows: RowsEvent): RowsEventFrame | undefined {
  return (rows as DeferredRowsEvent)[DEFERRED]?.frame;
}

function settleRows(ev: RowsEvent, rows: RowChange[]): void {
  Object.defineProperty(ev, "rows", { value: rows, writable: true, enumerable: true, configurable: true });
}

const DEFERRED_ROWS: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: DeferredRowsEvent): RowChange[] {
    const d = this[DEFERRED];
    const rows: RowChange[] = [];
    if (d !== undefined) {
      try {
        for (const row of rowsLayer.iterateRows(d.frame)) rows.push(row);
      } catch (e) {
        const typeName = eventTypeName[this.typeCode] ?? `type ${this.typeCode}`;
        throw damaged(e, typeName, d.where, d.payloadOffset);
      }
    }
    settleRows(this, rows);
    return rows;
  },
  set(this: RowsEvent, rows: RowChange[]): void {
    settleRows(this, rows);
  },
};

/** Where a MARIADB_ANNOTATE_ROWS event whose statement is decoded on first read keeps its bytes. */
const DEFERRED_TEXT: unique symbol = Symbol("sluice.binlog.deferredText");
type DeferredAnnotate = MariadbAnnotateRowsData & { [DEFERRED_TEXT]?: Buffer | undefined };

/**
 * The statement of a MARIADB_ANNOTATE_ROWS event decoded with `deferText`, as the UTF-8 bytes its
 * `query` is decoded from (a view into the read buffer, like a deferred rows event's); undefined
 * for other events and once `query` was read.
 */
export function deferredText(ev: BinlogEvent): Buffer | undefined {
  return ev.type === "mariadb_annotate_rows" ? (ev as DeferredAnnotate)[DEFERRED_TEXT] : undefined;
}

/** Makes `query` (in its place among the keys) decode the statement's bytes when first read. */
function deferQuery(ev: DeferredAnnotate): void {
  Object.defineProperty(ev, "query", DEFERRED_QUERY);
}

function settleQuery(ev: DeferredAnnotate, query: string): void {
  Object.defineProperty(ev, "query", { value: query, writable: true, enumerable: true, configurable: true });
  ev[DEFERRED_TEXT] = undefined;
}

const DEFERRED_QUERY: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: DeferredAnnotate): string {
    const query = this[DEFERRED_TEXT]?.toString("utf8") ?? "";
    settleQuery(this, query);
    return query;
  },
  set(this: DeferredAnnotate, query: string): void {
    settleQuery(this, query);
  },
};

export interface BinlogEventDecoderOptions {
  /**
   * MARIADB_ANNOTATE_ROWS keeps its statement as bytes, decoded when `query` is first read (see
   * deferredText): a writer working from the bytes skips building the string.
   */
  deferText?: boolean;
  /** Verify CRC32 checksums (default true). */
  verifyChecksum?: boolean;
  /** The checksum algorithm in force before a FORMAT_DESCRIPTION_EVENT is seen (e.g. negotiated on a replication connection). */
  checksum?: ChecksumAlgorithmCode;
  /** Flavor assumed before a FORMAT_DESCRIPTION_EVENT is seen. */
  flavor?: ServerFlavor;
  /** Row layer (default: src/codecs/binlog/rows); null passes TABLE_MAP and rows events on as raw bodies. */
  rows?: RowsCodec | null;
}

/**
 * What a decoder carries from one event to the next besides its format (the last FORMAT_DESCRIPTION)
 * and its table maps (the TABLE_MAP events in force): the open transaction and the current file.
 * Structured-cloneable, so that another thread can resume decoding at an event boundary.
 */
export interface DecoderCarry {
  trxGtid: string | undefined;
  inTrx: boolean;
  trxHasBegin: boolean;
  trxStandalone: boolean;
  currentFile: string | undefined;
}

/** Where one complete event came from: the file it is in (or the stream's current file) and its offset. */
export interface EventSource {
  file: string;
  offset: number;
}

const CHECKSUM_LENGTH = 4;

const ROWS_TYPES: Readonly<Record<number, RowsTypeName>> = {
  [EventType.WRITE_ROWS_V1]: "write_rows_v1",
  [EventType.UPDATE_ROWS_V1]: "update_rows_v1",
  [EventType.DELETE_ROWS_V1]: "delete_rows_v1",
  [EventType.WRITE_ROWS_V2]: "write_rows_v2",
  [EventType.UPDATE_ROWS_V2]: "update_rows_v2",
  [EventType.DELETE_ROWS_V2]: "delete_rows_v2",
  [EventType.PARTIAL_UPDATE_ROWS]: "partial_update_rows",
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1]: "mariadb_write_rows_compressed_v1",
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1]: "mariadb_update_rows_compressed_v1",
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1]: "mariadb_delete_rows_compressed_v1",
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED]: "mariadb_write_rows_compressed",
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED]: "mariadb_update_rows_compressed",
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED]: "mariadb_delete_rows_compressed",
};

/**
 * True for the events whose decoding changes nothing the next events depend on (BinlogEventDecoder
 * keeps no state from them): rows events, and what annotates a statement (its text, variables).
 */
export function isStatelessEventType(typeCode: number): boolean {
  switch (typeCode) {
    case EventType.MARIADB_ANNOTATE_ROWS:
    case EventType.ROWS_QUERY:
    case EventType.INTVAR:
    case EventType.RAND:
    case EventType.USER_VAR:
      return true;
    default:
      return ROWS_TYPES[typeCode] !== undefined;
  }
}

const RAW_TYPES: Readonly<Record<number, RawTypeName>> = {
  [EventType.IGNORABLE]: "ignorable",
  [EventType.LOAD]: "load",
  [EventType.NEW_LOAD]: "new_load",
  [EventType.CREATE_FILE]: "create_file",
  [EventType.SLAVE]: "slave",
  [EventType.PRE_GA_WRITE_ROWS]: "pre_ga_write_rows",
  [EventType.PRE_GA_UPDATE_ROWS]: "pre_ga_update_rows",
  [EventType.PRE_GA_DELETE_ROWS]: "pre_ga_delete_rows",
  [EventType.MARIADB_PARTIAL_ROW_DATA]: "mariadb_partial_row_data",
};

/** Reads the common header at `buf[0]`; BINLOG_TRUNCATED when fewer than 19 bytes are there. */
export function decodeEventHeader(buf: Buffer, where?: EventSource): EventHeader {
  if (buf.length < COMMON_HEADER_LENGTH)
    throw new SluiceError(
      "BINLOG_TRUNCATED",
      `event header: needs ${COMMON_HEADER_LENGTH} bytes, only ${buf.length} there`,
      { context: { what: "event header", file: where?.file, offset: where?.offset } },
    );
  return {
    timestamp: buf.readUInt32LE(0),
    typeCode: buf[4]!,
    serverId: buf.readUInt32LE(5),
    eventSize: buf.readUInt32LE(9),
    logPos: buf.readUInt32LE(13),
    flags: buf.readUInt16LE(17),
  };
}

/**
 * CRC32 of the event without its checksum. The server computes a FORMAT_DESCRIPTION's checksum with
 * the BINLOG_IN_USE flag clear, because it sets and clears that flag in place as the file opens and closes.
 */
function computeCrc(event: Buffer): number {
  const end = event.length - CHECKSUM_LENGTH;
  if (event[4] === EventType.FORMAT_DESCRIPTION && (event[17]! & EventFlag.BINLOG_IN_USE) !== 0) {
    const head = Buffer.from(event.subarray(0, COMMON_HEADER_LENGTH));
    head[17] = head[17]! & ~EventFlag.BINLOG_IN_USE;
    return crc32(event.subarray(COMMON_HEADER_LENGTH, end), crc32(head));
  }
  return crc32(event.subarray(0, end));
}

function hasValidCrc(event: Buffer): boolean {
  if (event.length < COMMON_HEADER_LENGTH + CHECKSUM_LENGTH) return false;
  return computeCrc(event) === event.readUInt32LE(event.length - CHECKSUM_LENGTH);
}

/**
 * The error for an event that could not be decoded, always naming the file and the event's offset:
 * reads past the frame and impossible values become BINLOG_BAD_EVENT (the event is damaged); other
 * codes (decompression, unknown table, schema mismatch...) keep theirs; anything that is not a
 * SluiceError is a decoder bug, reported as BINLOG_INTERNAL with the same context.
 */
function damaged(e: unknown, typeName: string, where: EventSource, payloadOffset?: number): SluiceError {
  if (e instanceof SluiceError && (e.code === "BINLOG_BAD_EVENT" || e.code === "BINLOG_CHECKSUM")) return e;
  const at = {
    file: where.file,
    offset: where.offset,
    type: typeName,
    ...(payloadOffset === undefined ? {} : { payloadOffset }),
  };
  if (!(e instanceof SluiceError))
    return new SluiceError("BINLOG_INTERNAL", `decoding the ${typeName} event failed: ${messageOf(e)}`, {
      context: at,
      hint: "this is a bug in Sluice's decoder: please report it with the event (e.g. `sluice binlog read --start-position`)",
      cause: e,
    });
  const fieldOffset =
    typeof e.context.offset === "number" && payloadOffset === undefined && e.context.offset !== where.offset
      ? { fieldOffset: e.context.offset }
      : {};
  if (e.code === "BINLOG_TRUNCATED" || e.code === "BINLOG_BAD_VALUE")
    return new SluiceError("BINLOG_BAD_EVENT", `${typeName} event is damaged: ${e.message}`, {
      context: { ...at, ...fieldOffset, reason: e.code },
      hint: e.hint ?? "the file is damaged at this event; everything before it was read",
      cause: e,
    });
  return new SluiceError(e.code, e.message, {
    context: { ...e.context, ...at, ...fieldOffset },
    ...(e.hint === undefined ? {} : { hint: e.hint }),
    cause: e,
  });
}

/**
 * Decodes complete binlog events one at a time and keeps what the next ones depend on: the format
 * context (from FORMAT_DESCRIPTION), the current file (ROTATE), the table maps, the transaction's GTID
 * and whether the rest of the file is encrypted. Pure: bytes in, events out, SluiceError on damage.
 */
export class BinlogEventDecoder {
  ctx: FormatContext;
  /** The binlog file the server is writing to, as the last ROTATE said (undefined before one). */
  currentFile: string | undefined;
  /** Table maps by table id, as the last TABLE_MAP events defined them. */
  readonly tables = new Map<bigint, TableMapEvent>();
  /** Set by START_ENCRYPTION: everything after it in the file is encrypted. */
  encrypted = false;
  private readonly verify: boolean;
  private readonly rows: RowsCodec | undefined;
  private readonly presetChecksum: ChecksumAlgorithmCode | undefined;
  private readonly deferText: boolean;
  private sawFormat = false;
  /** GTID of the open transaction, and whether it spans several statements (a BEGIN was seen). */
  private trxGtid: string | undefined;
  private inTrx = false;
  private trxHasBegin = false;
  private trxStandalone = false;

  constructor(opts: BinlogEventDecoderOptions = {}) {
    this.ctx = defaultFormatContext(opts.flavor ?? "mysql");
    if (opts.checksum !== undefined) this.ctx.checksum = opts.checksum;
    this.presetChecksum = opts.checksum;
    this.verify = opts.verifyChecksum ?? true;
    this.deferText = opts.deferText === true;
    this.rows = opts.rows === null ? undefined : (opts.rows ?? rowsLayer);
  }

  /** Forgets the transaction state and table maps (a new file or a reconnect). */
  resetTransaction(): void {
    this.trxGtid = undefined;
    this.inTrx = false;
    this.trxHasBegin = false;
    this.trxStandalone = false;
    this.tables.clear();
  }

  /** The transaction state and current file (see DecoderCarry). */
  carry(): DecoderCarry {
    return {
      trxGtid: this.trxGtid,
      inTrx: this.inTrx,
      trxHasBegin: this.trxHasBegin,
      trxStandalone: this.trxStandalone,
      currentFile: this.currentFile,
    };
  }

  /**
   * Takes over what another decoder carried at an event boundary: with the same FORMAT_DESCRIPTION
   * and TABLE_MAP events decoded first, this decoder then decodes the next events exactly as that one would.
   */
  resume(c: DecoderCarry): void {
    this.trxGtid = c.trxGtid;
    this.inTrx = c.inTrx;
    this.trxHasBegin = c.trxHasBegin;
    this.trxStandalone = c.trxStandalone;
    this.currentFile = c.currentFile;
  }

  /**
   * Decodes one complete event (common header + body + checksum when the format has one) read at
   * `where`. Throws BINLOG_CHECKSUM on a checksum mismatch, BINLOG_BAD_EVENT on a damaged event,
   * BINLOG_ENCRYPTED for events after START_ENCRYPTION.
   */
  decode(event: Buffer, where: EventSource): BinlogEvent {
    const header = decodeEventHeader(event, where);
    const typeName = eventTypeName[header.typeCode] ?? `type ${header.typeCode}`;
    if (header.eventSize !== event.length)
      throw new SluiceError(
        "BINLOG_BAD_EVENT",
        `${typeName} event says it is ${header.eventSize} bytes but ${event.length} were given`,
        { context: { file: where.file, offset: where.offset, type: typeName } },
      );
    if (this.encrypted)
      throw new SluiceError(
        "BINLOG_ENCRYPTED",
        "the binlog is encrypted from here on; it cannot be read without the key",
        {
          context: { file: where.file, offset: where.offset },
          hint: "read it through the server (`sluice binlog stream`), which decrypts it, or decrypt it with the server's key first",
        },
      );
    const hasChecksum = this.eventHasChecksum(event, header);
    if (hasChecksum && this.verify && !hasValidCrc(event)) {
      const end = event.length - CHECKSUM_LENGTH;
      throw new SluiceError("BINLOG_CHECKSUM", `${typeName} event fails its CRC32 checksum`, {
        context: {
          file: where.file,
          offset: where.offset,
          expected: `0x${event.readUInt32LE(end).toString(16).padStart(8, "0")}`,
          actual: `0x${computeCrc(event).toString(16).padStart(8, "0")}`,
        },
        hint: "the file is damaged (or still being written at this point); --no-verify-checksum reads it anyway",
      });
    }
    const headerLen =
      header.typeCode === EventType.FORMAT_DESCRIPTION ? COMMON_HEADER_LENGTH : this.ctx.commonHeaderLength;
    // A FORMAT_DESCRIPTION reads its own checksum-algorithm byte and checksum room.
    const bodyEnd =
      event.length - (hasChecksum && header.typeCode !== EventType.FORMAT_DESCRIPTION ? CHECKSUM_LENGTH : 0);
    if (bodyEnd < headerLen)
      throw new SluiceError(
        "BINLOG_BAD_EVENT",
        `${typeName} event of ${event.length} bytes is shorter than its header`,
        {
          context: { file: where.file, offset: where.offset, type: typeName },
        },
      );
    const position: EventPosition = {
      file: where.file,
      offset: where.offset,
      next: where.offset + event.length,
    };
    const r = new ByteReader(event, headerLen, bodyEnd).at(where.file, where.offset);
    let data: BinlogEventData;
    try {
      data = this.decodeBody(r, header, where, position);
    } catch (e) {
      throw damaged(e, typeName, where);
    }
    const ev = { header, position, ...data } as BinlogEvent;
    if (this.deferText && ev.type === "mariadb_annotate_rows") deferQuery(ev);
    this.track(ev);
    return ev;
  }

  /** Decodes the events inside an uncompressed transaction payload. */
  private decodePayload(inner: Buffer, where: EventSource, outer: EventPosition): BinlogEvent[] {
    const out: BinlogEvent[] = [];
    let p = 0;
    while (p < inner.length) {
      const at = { file: where.file, offset: where.offset };
      if (inner.length - p < COMMON_HEADER_LENGTH)
        throw new SluiceError("BINLOG_TRUNCATED", "transaction payload ends inside an event header", {
          context: { ...at, payloadOffset: p },
        });
      const size = inner.readUInt32LE(p + 9);
      if (size < COMMON_HEADER_LENGTH || p + size > inner.length)
        throw new SluiceError(
          "BINLOG_TRUNCATED",
          `transaction payload: inner event of ${size} bytes does not fit`,
          {
            context: { ...at, payloadOffset: p },
          },
        );
      const event = inner.subarray(p, p + size);
      const header = decodeEventHeader(event, at);
      const typeName = eventTypeName[header.typeCode] ?? `type ${header.typeCode}`;
      // Inner events carry no checksum: the payload event's own checksum covers them.
      const position: EventPosition = {
        file: outer.file,
        offset: outer.offset,
        next: outer.next,
        payloadOffset: p,
      };
      const r = new ByteReader(event, this.ctx.commonHeaderLength, size);
      let data: BinlogEventData;
      try {
        if (
          header.typeCode === EventType.TRANSACTION_PAYLOAD ||
          header.typeCode === EventType.FORMAT_DESCRIPTION
        )
          throw new SluiceError("BINLOG_BAD_VALUE", `${typeName} cannot be nested in a transaction payload`);
        data = this.decodeBody(r, header, where, position);
      } catch (e) {
        throw damaged(e, typeName, where, p);
      }
      const ev = { header, position, ...data } as BinlogEvent;
      this.track(ev);
      out.push(ev);
      p += size;
    }
    return out;
  }

  private eventHasChecksum(event: Buffer, header: EventHeader): boolean {
    if (header.typeCode === EventType.FORMAT_DESCRIPTION) {
      // The FORMAT_DESCRIPTION decides for itself (and for the events after it).
      const probe = new ByteReader(event, COMMON_HEADER_LENGTH, event.length);
      try {
        return decodeFormatDescription(probe).ctx.checksum === ChecksumAlgorithm.CRC32;
      } catch {
        return false;
      }
    }
    if (this.ctx.checksum === ChecksumAlgorithm.CRC32) return true;
    if (this.ctx.checksum === ChecksumAlgorithm.OFF || this.sawFormat || this.presetChecksum !== undefined)
      return false;
    // Before any format description (a stream's fake ROTATE): a valid CRC says it has one.
    return hasValidCrc(event);
  }

  private decodeBody(
    r: ByteReader,
    header: EventHeader,
    where: EventSource,
    position: EventPosition,
  ): BinlogEventData {
    const t = header.typeCode;
    const ctx = this.ctx;
    switch (t) {
      case EventType.FORMAT_DESCRIPTION: {
        const { data, ctx: next } = decodeFormatDescription(r);
        this.ctx = next;
        this.sawFormat = true;
        return data;
      }
      case EventType.START_V3:
        return decodeStartV3(r);
      case EventType.QUERY:
      case EventType.MARIADB_QUERY_COMPRESSED:
        return decodeQuery(r, ctx, t);
      case EventType.EXECUTE_LOAD_QUERY:
        return decodeExecuteLoadQuery(r, ctx);
      case EventType.ROTATE: {
        const d = decodeRotate(r, ctx);
        this.currentFile = d.nextFile;
        return d;
      }
      case EventType.STOP:
        return { type: "stop" };
      case EventType.XID:
        return decodeXid(r);
      case EventType.INTVAR:
        return decodeIntvar(r);
      case EventType.RAND:
        return decodeRand(r);
      case EventType.USER_VAR:
        return decodeUserVar(r);
      case EventType.INCIDENT:
        return decodeIncident(r);
      case EventType.HEARTBEAT:
        return decodeHeartbeat(r);
      case EventType.HEARTBEAT_V2:
        return decodeHeartbeatV2(r);
      case EventType.ROWS_QUERY:
        return decodeRowsQuery(r);
      case EventType.GTID:
        return decodeMysqlGtid(r, "gtid");
      case EventType.ANONYMOUS_GTID:
        return decodeMysqlGtid(r, "anonymous_gtid");
      case EventType.GTID_TAGGED_LOG:
        return decodeMysqlTaggedGtid(r);
      case EventType.PREVIOUS_GTIDS:
        return decodePreviousGtids(r);
      case EventType.XA_PREPARE:
        return decodeXaPrepare(r);
      case EventType.TRANSACTION_CONTEXT:
        return decodeTransactionContext(r);
      case EventType.VIEW_CHANGE:
        return decodeViewChange(r);
      case EventType.TRANSACTION_PAYLOAD: {
        const { data, inner } = decodeTransactionPayload(r);
        // The payload event itself belongs to the transaction its GTID event opened.
        const events = this.decodePayload(inner, where, position);
        return { ...data, eventCount: events.length, events };
      }
      case EventType.MARIADB_GTID:
        return decodeMariadbGtid(r);
      case EventType.MARIADB_GTID_LIST:
        return decodeMariadbGtidList(r);
      case EventType.MARIADB_BINLOG_CHECKPOINT:
        return decodeMariadbBinlogCheckpoint(r);
      case EventType.MARIADB_ANNOTATE_ROWS:
        // (`query` becomes an accessor once the event is built: see deferQuery)
        return this.deferText
          ? ({ type: "mariadb_annotate_rows", query: "", [DEFERRED_TEXT]: r.rest() } as DeferredAnnotate)
          : decodeMariadbAnnotateRows(r);
      case EventType.MARIADB_START_ENCRYPTION: {
        const d = decodeMariadbStartEncryption(r);
        this.encrypted = true;
        return d;
      }
      case EventType.BEGIN_LOAD_QUERY:
        return decodeLoadBlock(r, "begin_load_query");
      case EventType.APPEND_BLOCK:
        return decodeLoadBlock(r, "append_block");
      case EventType.DELETE_FILE:
        return decodeLoadFile(r, "delete_file");
      case EventType.EXEC_LOAD:
        return decodeLoadFile(r, "exec_load");
      case EventType.TABLE_MAP: {
        const body = r.rest();
        if (!this.rows) return { type: "table_map", raw: body };
        const tableMap = this.rows.decodeTableMapEvent(body, ctx, where);
        this.tables.set(tableMap.tableId, tableMap);
        return { type: "table_map", tableMap };
      }
      default: {
        const rowsType = ROWS_TYPES[t];
        if (rowsType) {
          const body = r.rest();
          if (!this.rows) return { type: rowsType, typeCode: t, raw: body };
          if (this.rows.openRowsEvent !== undefined) {
            const frame = this.rows.openRowsEvent(body, t, ctx, this.tables, where);
            return { type: rowsType, typeCode: t, rows: this.deferRows(frame, where, position) };
          }
          return {
            type: rowsType,
            typeCode: t,
            rows: this.rows.decodeRowsEvent(body, t, ctx, this.tables, where),
          };
        }
        const ignorable = (header.flags & EventFlag.IGNORABLE) !== 0;
        return {
          type: RAW_TYPES[t] ?? "unknown",
          typeCode: t,
          raw: r.rest(),
          ...(ignorable ? { ignorable } : {}),
        };
      }
    }
  }

  /**
   * The rows event of `frame` with its rows decoded on first read, by the same code decodeRowsEvent
   * runs; a damaged row then throws the error decode() would have thrown for the event.
   */
  private deferRows(frame: RowsEventFrame, where: EventSource, position: EventPosition): RowsEvent {
    const ev = frame.header as DeferredRowsEvent;
    // One accessor pair for all events: objects that get it share their hidden class.
    Object.defineProperty(ev, "rows", DEFERRED_ROWS);
    ev[DEFERRED] = { frame, where, payloadOffset: position.payloadOffset };
    return ev;
  }

  /** Carries the open transaction's GTID onto its events and notices where the transaction ends. */
  private track(ev: BinlogEvent): void {
    switch (ev.type) {
      case "mariadb_gtid":
        this.trxGtid = formatMariadbGtid({
          domainId: ev.domainId,
          serverId: ev.header.serverId,
          seqNo: ev.seqNo,
        });
        this.inTrx = true;
        // MariaDB writes no BEGIN: the GTID event opens the group, which runs to XID/COMMIT unless standalone.
        this.trxHasBegin = !ev.standalone;
        this.trxStandalone = ev.standalone;
        ev.gtid = this.trxGtid;
        return;
      case "gtid":
      case "anonymous_gtid":
      case "gtid_tagged_log": {
        const text = mysqlGtidText(ev);
        this.trxGtid = text;
        this.inTrx = true;
        this.trxHasBegin = false;
        this.trxStandalone = false;
        if (text !== undefined) ev.gtid = text;
        return;
      }
      case "format_description":
      case "rotate":
      case "stop":
      case "previous_gtids":
      case "mariadb_gtid_list":
      case "mariadb_binlog_checkpoint":
      case "heartbeat":
      case "heartbeat_v2":
      case "mariadb_start_encryption":
        if (ev.type === "format_description") this.resetTransaction();
        return;
    }
    if (!this.inTrx) return;
    if (this.trxGtid !== undefined) ev.gtid = this.trxGtid;
    let ends = false;
    if (ev.type === "xid" || ev.type === "xa_prepare") ends = true;
    else if (ev.type === "query" || ev.type === "mariadb_query_compressed") {
      const q = ev.query.trimStart().slice(0, 12).toUpperCase();
      if (q.startsWith("BEGIN") || q.startsWith("XA START")) this.trxHasBegin = true;
      else if (!this.trxHasBegin || this.trxStandalone) ends = true;
      else if (/^(COMMIT|ROLLBACK|XA PREPARE|XA COMMIT|XA ROLLBACK)/.test(q)) ends = true;
    }
    if (ends) {
      this.inTrx = false;
      this.trxGtid = undefined;
      this.trxHasBegin = false;
      this.trxStandalone = false;
      this.tables.clear();
    }
  }
}
