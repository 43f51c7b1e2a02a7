import { SluiceError } from "../../core/errors.ts";
import { ByteReader } from "../binlog/reader.ts";

/**
 * The generic response packets of the MySQL protocol (OK, ERR, EOF) and the capability and status
 * flags they depend on. Pure: payloads (without the 4-byte packet header) in, values out.
 */

/** Capability flags (the subset Sluice reads or sets); see "Capabilities" in the protocol docs. */
export const Capability = {
  LONG_PASSWORD: 0x1,
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  NO_SCHEMA: 0x10,
  COMPRESS: 0x20,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  CAN_HANDLE_EXPIRED_PASSWORDS: 0x400000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
} as const;

/** Server status flags carried by OK and EOF packets. */
export const ServerStatus = {
  IN_TRANS: 0x1,
  AUTOCOMMIT: 0x2,
  MORE_RESULTS_EXISTS: 0x8,
  NO_GOOD_INDEX_USED: 0x10,
  NO_INDEX_USED: 0x20,
  CURSOR_EXISTS: 0x40,
  LAST_ROW_SENT: 0x80,
  DB_DROPPED: 0x100,
  NO_BACKSLASH_ESCAPES: 0x200,
  METADATA_CHANGED: 0x400,
  QUERY_WAS_SLOW: 0x800,
  PS_OUT_PARAMS: 0x1000,
  IN_TRANS_READONLY: 0x2000,
  SESSION_STATE_CHANGED: 0x4000,
} as const;

export const OK_HEADER = 0x00;
export const EOF_HEADER = 0xfe;
export const ERR_HEADER = 0xff;
/** MariaDB sends progress reports as ERR packets with this errno (when the client asked for them). */
export const MARIADB_PROGRESS_ERRNO = 0xffff;

/**
 * OK_Packet:
 *   int<1> header (0x00, or 0xFE when it ends a result set under CLIENT_DEPRECATE_EOF)
 *   int<lenenc> affected_rows | int<lenenc> last_insert_id
 *   if PROTOCOL_41: int<2> status_flags, int<2> warnings   (else if TRANSACTIONS: int<2> status_flags)
 *   if SESSION_TRACK: string<lenenc> info [, string<lenenc> session_state_info if SESSION_STATE_CHANGED]
 *   else: string<EOF> info
 */
export interface OkPacket {
  affectedRows: number | bigint;
  lastInsertId: number | bigint;
  statusFlags: number;
  warnings: number;
  info: string;
  /** Raw session-state-change block, when the server sent one. */
  sessionState: Buffer | undefined;
}

/**
 * ERR_Packet:
 *   int<1> 0xFF | int<2> error_code
 *   if PROTOCOL_41 (and the server had negotiated it): string[1] '#' marker, string[5] sql_state
 *   string<EOF> error_message
 * Errors sent before capabilities are negotiated (e.g. "host is not allowed to connect") have no
 * SQLSTATE: `sqlState` is then undefined.
 */
export interface ErrPacket {
  errno: number;
  sqlState: string | undefined;
  message: string;
}

/** EOF_Packet (payload shorter than 9 bytes): int<1> 0xFE | int<2> warnings | int<2> status_flags. */
export interface EofPacket {
  warnings: number;
  statusFlags: number;
}

function malformed(what: string, payload: Buffer, cause: unknown): SluiceError {
  return new SluiceError("MYSQL_BAD_PACKET", `malformed ${what} packet (${payload.length} bytes)`, {
    context: { what, length: payload.length, head: payload.subarray(0, 16).toString("hex") },
    hint: "the peer sent bytes that do not follow the MySQL protocol for this packet",
    cause,
  });
}

export function isOkPacket(payload: Buffer): boolean {
  return payload.length >= 7 && payload[0] === OK_HEADER;
}

export function isErrPacket(payload: Buffer): boolean {
  return payload.length >= 3 && payload[0] === ERR_HEADER;
}

/** An EOF packet, or (under CLIENT_DEPRECATE_EOF) the OK packet that ends a result set: 0xFE, < 9 bytes. */
export function isEofPacket(payload: Buffer): boolean {
  return payload.length < 9 && payload[0] === EOF_HEADER;
}

export function decodeOk(payload: Buffer, capabilities: number): OkPacket {
  try {
    const r = new ByteReader(payload, 1);
    const affectedRows = r.lenencInt("affected_rows") ?? 0;
    const lastInsertId = r.lenencInt("last_insert_id") ?? 0;
    let statusFlags = 0;
    let warnings = 0;
    if (capabilities & Capability.PROTOCOL_41) {
      statusFlags = r.u16("status_flags");
      warnings = r.u16("warnings");
    } else if (capabilities & Capability.TRANSACTIONS) {
      statusFlags = r.u16("status_flags");
    }
    let info = "";
    let sessionState: Buffer | undefined;
    if (capabilities & Capability.SESSION_TRACK) {
      // The info string may be omitted entirely when nothing follows.
      if (r.remaining > 0) info = r.lenencBytes("info").toString("utf8");
      if (statusFlags & ServerStatus.SESSION_STATE_CHANGED && r.remaining > 0)
        sessionState = r.lenencBytes("session state");
    } else {
      info = r.rest().toString("utf8");
    }
    return { affectedRows, lastInsertId, statusFlags, warnings, info, sessionState };
  } catch (e) {
    throw malformed("OK", payload, e);
  }
}

export function decodeErr(payload: Buffer): ErrPacket {
  if (payload.length < 3 || payload[0] !== ERR_HEADER) throw malformed("ERR", payload, undefined);
  const errno = payload.readUInt16LE(1);
  let pos = 3;
  let sqlState: string | undefined;
  if (payload.length >= 9 && payload[3] === 0x23 /* '#' */) {
    sqlState = payload.toString("latin1", 4, 9);
    pos = 9;
  }
  return { errno, sqlState, message: payload.toString("utf8", pos) };
}

export function decodeEof(payload: Buffer): EofPacket {
  if (payload.length < 1 || payload[0] !== EOF_HEADER) throw malformed("EOF", payload, undefined);
  // Pre-4.1 servers send a 1-byte EOF.
  if (payload.length < 5) return { warnings: 0, statusFlags: 0 };
  return { warnings: payload.readUInt16LE(1), statusFlags: payload.readUInt16LE(3) };
}

/** Encodes a length-encoded integer (used by the encoders here and by request builders). */
export function encodeLenencInt(value: number | bigint): Buffer {
  const v = BigInt(value);
  if (v < 0n) throw new RangeError(`length-encoded int cannot be negative: ${v}`);
  if (v < 0xfbn) return Buffer.from([Number(v)]);
  if (v <= 0xffffn) {
    const b = Buffer.alloc(3);
    b[0] = 0xfc;
    b.writeUInt16LE(Number(v), 1);
    return b;
  }
  if (v <= 0xffffffn) {
    const b = Buffer.alloc(4);
    b[0] = 0xfd;
    b.writeUIntLE(Number(v), 1, 3);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(v, 1);
  return b;
}

/** Builds an OK payload (PROTOCOL_41 layout; SESSION_TRACK layout when that capability is given). */
export function encodeOk(ok: Partial<OkPacket> = {}, capabilities: number = Capability.PROTOCOL_41): Buffer {
  const status = Buffer.alloc(4);
  status.writeUInt16LE(ok.statusFlags ?? 0, 0);
  status.writeUInt16LE(ok.warnings ?? 0, 2);
  const info = Buffer.from(ok.info ?? "", "utf8");
  const parts = [
    Buffer.from([OK_HEADER]),
    encodeLenencInt(ok.affectedRows ?? 0),
    encodeLenencInt(ok.lastInsertId ?? 0),
    status,
  ];
  if (capabilities & Capability.SESSION_TRACK) {
    parts.push(encodeLenencInt(info.length), info);
    if (ok.sessionState) parts.push(encodeLenencInt(ok.sessionState.length), ok.sessionState);
  } else {
    parts.push(info);
  }
  return Buffer.concat(parts);
}

export function encodeErr(err: ErrPacket): Buffer {
  const head = Buffer.alloc(3);
  head[0] = ERR_HEADER;
  head.writeUInt16LE(err.errno, 1);
  const state = err.sqlState === undefined ? Buffer.alloc(0) : Buffer.from(`#${err.sqlState}`, "latin1");
  return Buffer.concat([head, state, Buffer.from(err.message, "utf8")]);
}

export function encodeEof(eof: EofPacket = { warnings: 0, statusFlags: 0 }): Buffer {
  const b = Buffer.alloc(5);
  b[0] = EOF_HEADER;
  b.writeUInt16LE(eof.warnings, 1);
  b.writeUInt16LE(eof.statusFlags, 3);
  return b;
}
