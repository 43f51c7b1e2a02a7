/**
 * Shared vocabulary of the binlog codec: event type codes, the common header, the format context
 * learned from the FORMAT_DESCRIPTION_EVENT, and positions. Pure types and tables, no I/O.
 *
 * Common header (v4, 19 bytes), all little-endian:
 *   timestamp u32 | type u8 | server_id u32 | event_size u32 | log_pos u32 (end of event) | flags u16
 */
export const EventType = {
  UNKNOWN: 0,
  START_V3: 1,
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  INTVAR: 5,
  LOAD: 6,
  SLAVE: 7,
  CREATE_FILE: 8,
  APPEND_BLOCK: 9,
  EXEC_LOAD: 10,
  DELETE_FILE: 11,
  NEW_LOAD: 12,
  RAND: 13,
  USER_VAR: 14,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  BEGIN_LOAD_QUERY: 17,
  EXECUTE_LOAD_QUERY: 18,
  TABLE_MAP: 19,
  PRE_GA_WRITE_ROWS: 20,
  PRE_GA_UPDATE_ROWS: 21,
  PRE_GA_DELETE_ROWS: 22,
  WRITE_ROWS_V1: 23,
  UPDATE_ROWS_V1: 24,
  DELETE_ROWS_V1: 25,
  INCIDENT: 26,
  HEARTBEAT: 27,
  IGNORABLE: 28,
  ROWS_QUERY: 29,
  WRITE_ROWS_V2: 30,
  UPDATE_ROWS_V2: 31,
  DELETE_ROWS_V2: 32,
  GTID: 33,
  ANONYMOUS_GTID: 34,
  PREVIOUS_GTIDS: 35,
  TRANSACTION_CONTEXT: 36,
  VIEW_CHANGE: 37,
  XA_PREPARE: 38,
  PARTIAL_UPDATE_ROWS: 39,
  TRANSACTION_PAYLOAD: 40,
  HEARTBEAT_V2: 41,
  GTID_TAGGED_LOG: 42,
  // MariaDB
  MARIADB_ANNOTATE_ROWS: 160,
  MARIADB_BINLOG_CHECKPOINT: 161,
  MARIADB_GTID: 162,
  MARIADB_GTID_LIST: 163,
  MARIADB_START_ENCRYPTION: 164,
  MARIADB_QUERY_COMPRESSED: 165,
  MARIADB_WRITE_ROWS_COMPRESSED_V1: 166,
  MARIADB_UPDATE_ROWS_COMPRESSED_V1: 167,
  MARIADB_DELETE_ROWS_COMPRESSED_V1: 168,
  MARIADB_WRITE_ROWS_COMPRESSED: 169,
  MARIADB_UPDATE_ROWS_COMPRESSED: 170,
  MARIADB_DELETE_ROWS_COMPRESSED: 171,
  MARIADB_PARTIAL_ROW_DATA: 172,
} as const;
export type EventTypeCode = (typeof EventType)[keyof typeof EventType];

/** Event type code -> snake_case name used in the output contract (`type`). */
export const eventTypeName: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k.toLowerCase()])),
);

export const COMMON_HEADER_LENGTH = 19;
export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]); // "\xfebin"

export const ChecksumAlgorithm = { OFF: 0, CRC32: 1, UNDEFINED: 255 } as const;
export type ChecksumAlgorithmCode = (typeof ChecksumAlgorithm)[keyof typeof ChecksumAlgorithm];

export interface EventHeader {
  timestamp: number;
  typeCode: number;
  serverId: number;
  /** Total length of the event including header (and checksum, when present). */
  eventSize: number;
  /** Position of the next event in the file (0 for some artificial events). */
  logPos: number;
  flags: number;
}

export type ServerFlavor = "mysql" | "mariadb";

/** What the FORMAT_DESCRIPTION_EVENT told us; every later event is decoded in this context. */
export interface FormatContext {
  binlogVersion: number;
  serverVersion: string;
  flavor: ServerFlavor;
  commonHeaderLength: number;
  /** Post-header length per event type code (index = type code). */
  postHeaderLengths: Uint8Array;
  checksum: ChecksumAlgorithmCode;
}

/** A position in a binlog: the file and the byte offset of an event; `next` is where the next one starts. */
export interface BinlogPosition {
  file: string;
  offset: number;
  next: number;
}

/** Common-header flags (LOG_EVENT_*_F). */
export const EventFlag = {
  BINLOG_IN_USE: 0x1,
  THREAD_SPECIFIC: 0x4,
  SUPPRESS_USE: 0x8,
  ARTIFICIAL: 0x20,
  RELAY_LOG: 0x40,
  IGNORABLE: 0x80,
  SKIP_REPLICATION: 0x8000,
} as const;

/**
 * Post-header lengths of a v4 binlog as MySQL 8 / MariaDB 10.x write them, used until a
 * FORMAT_DESCRIPTION_EVENT says otherwise (a network stream may start without one).
 */
export function defaultPostHeaderLengths(flavor: ServerFlavor): Uint8Array {
  const p = new Uint8Array(256);
  p[EventType.START_V3] = 56;
  p[EventType.QUERY] = 13;
  p[EventType.ROTATE] = 8;
  p[EventType.LOAD] = 18;
  p[EventType.CREATE_FILE] = 4;
  p[EventType.APPEND_BLOCK] = 4;
  p[EventType.EXEC_LOAD] = 4;
  p[EventType.DELETE_FILE] = 4;
  p[EventType.NEW_LOAD] = 18;
  p[EventType.FORMAT_DESCRIPTION] = 84;
  p[EventType.BEGIN_LOAD_QUERY] = 4;
  p[EventType.EXECUTE_LOAD_QUERY] = 26;
  p[EventType.TABLE_MAP] = 8;
  p[EventType.WRITE_ROWS_V1] = 8;
  p[EventType.UPDATE_ROWS_V1] = 8;
  p[EventType.DELETE_ROWS_V1] = 8;
  p[EventType.INCIDENT] = 2;
  p[EventType.WRITE_ROWS_V2] = 10;
  p[EventType.UPDATE_ROWS_V2] = 10;
  p[EventType.DELETE_ROWS_V2] = 10;
  p[EventType.GTID] = 42;
  p[EventType.ANONYMOUS_GTID] = 42;
  p[EventType.TRANSACTION_CONTEXT] = 18;
  p[EventType.VIEW_CHANGE] = 52;
  p[EventType.PARTIAL_UPDATE_ROWS] = 10;
  if (flavor === "mariadb") {
    p[EventType.MARIADB_BINLOG_CHECKPOINT] = 4;
    p[EventType.MARIADB_GTID] = 19;
    p[EventType.MARIADB_GTID_LIST] = 4;
    p[EventType.MARIADB_START_ENCRYPTION] = 0;
    p[EventType.MARIADB_QUERY_COMPRESSED] = 13;
    for (
      let t = EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1;
      t <= EventType.MARIADB_DELETE_ROWS_COMPRESSED;
      t++
    )
      p[t] = t <= EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1 ? 8 : 10;
  }
  return p;
}

/** The context assumed before any FORMAT_DESCRIPTION_EVENT: binlog v4, no checksum known. */
export function defaultFormatContext(flavor: ServerFlavor = "mysql"): FormatContext {
  return {
    binlogVersion: 4,
    serverVersion: "",
    flavor,
    commonHeaderLength: COMMON_HEADER_LENGTH,
    postHeaderLengths: defaultPostHeaderLengths(flavor),
    checksum: ChecksumAlgorithm.UNDEFINED,
  };
}

/** Post-header length of `typeCode` in `ctx`, or `fallback` when the format description has none. */
export function postHeaderLength(ctx: FormatContext, typeCode: number, fallback: number): number {
  return typeCode < ctx.postHeaderLengths.length ? ctx.postHeaderLengths[typeCode]! : fallback;
}
