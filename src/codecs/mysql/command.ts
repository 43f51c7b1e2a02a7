import { SluiceError } from "../../core/errors.ts";
import { ByteReader } from "../binlog/reader.ts";
import { type ParamType, type ParamValue, readParamTypes, readParamValues } from "./binary-values.ts";

/**
 * Client commands of the command phase (first payload byte = command code), decoded as a passive
 * observer sees them: what the client asked for, with the SQL text, statement id and parameters.
 */
export const CommandCode = {
  SLEEP: 0x00,
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  CREATE_DB: 0x05,
  DROP_DB: 0x06,
  REFRESH: 0x07,
  SHUTDOWN: 0x08,
  STATISTICS: 0x09,
  PROCESS_INFO: 0x0a,
  CONNECT: 0x0b,
  PROCESS_KILL: 0x0c,
  DEBUG: 0x0d,
  PING: 0x0e,
  TIME: 0x0f,
  DELAYED_INSERT: 0x10,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  CONNECT_OUT: 0x14,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  DAEMON: 0x1d,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
  /** MariaDB's array binding. */
  STMT_BULK_EXECUTE: 0xfa,
} as const;

/** The name each command goes out under in session events. */
export const COMMAND_KINDS: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(CommandCode).map(([name, code]) => [code, name.toLowerCase()]),
);

/** Capability bits beyond those in ok-err.ts that a capture needs to know. */
export const CaptureCapability = {
  ZSTD_COMPRESSION: 1 << 26,
  QUERY_ATTRIBUTES: 1 << 27,
} as const;

/** COM_STMT_EXECUTE flags bit: MySQL 8 sends a parameter count (query attributes). */
const PARAMETER_COUNT_AVAILABLE = 0x08;

export interface StatementInfo {
  paramCount: number;
  /** Types bound by the last execute that sent them (new-params-bound flag = 1). */
  paramTypes: ParamType[] | undefined;
  /** Parameters sent with COM_STMT_SEND_LONG_DATA since the last execute. */
  longData: Map<number, ParamValue>;
}

export interface QueryAttribute {
  name: string;
  value: ParamValue;
}

export type DecodedCommand =
  | { kind: "query"; sql: string; attributes: QueryAttribute[] | undefined }
  | { kind: "init_db"; database: string }
  | { kind: "field_list"; table: string; wildcard: string }
  | { kind: "change_user"; user: string; database: string }
  | { kind: "stmt_prepare"; sql: string }
  | {
      kind: "stmt_execute";
      statementId: number;
      flags: number;
      params: ParamValue[];
      /** Types the statement's parameters were bound with (undefined when never seen). */
      types: ParamType[] | undefined;
      /** True when the statement was not seen being prepared: its parameters could not be decoded. */
      unknownStatement: boolean;
    }
  | { kind: "stmt_send_long_data"; statementId: number; paramId: number; length: number }
  | { kind: "stmt_close" | "stmt_reset"; statementId: number }
  | { kind: "stmt_fetch"; statementId: number; rows: number }
  | { kind: "process_kill"; connectionId: number }
  | { kind: "set_option"; option: number }
  | { kind: string };

export interface CommandContext {
  capabilities: number;
  statements: ReadonlyMap<number, StatementInfo>;
}

function readAttributes(r: ByteReader, count: number): QueryAttribute[] {
  const nullBitmap = r.bytes((count + 7) >> 3, "attribute null bitmap");
  const bound = r.u8("new params bound flag");
  if (bound !== 1) return [];
  const types: ParamType[] = [];
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    types.push(...readParamTypes(r, 1));
    names.push(r.lenencBytes("attribute name").toString("utf8"));
  }
  const values = readParamValues(r, types, nullBitmap);
  return names.map((name, i) => ({ name, value: values[i] ?? null }));
}

/**
 *   COM_QUERY: 0x03 | [if CLIENT_QUERY_ATTRIBUTES: lenenc parameter_count | lenenc parameter_set_count
 *              | if parameter_count > 0: null_bitmap | u8 new_params_bind_flag
 *              | per parameter: u16 type | lenenc name | values] | string<EOF> query
 *   COM_STMT_EXECUTE: 0x17 | u32 statement_id | u8 flags | u32 iteration_count
 *              | if params (or MySQL's PARAMETER_COUNT_AVAILABLE): [lenenc parameter_count if CLIENT_QUERY_ATTRIBUTES]
 *                null_bitmap | u8 new_params_bound | [u16 type (+ lenenc name with attributes)]... | values
 *   COM_STMT_SEND_LONG_DATA: 0x18 | u32 statement_id | u16 param_id | data
 *   COM_STMT_CLOSE / RESET: u32 statement_id;   COM_STMT_FETCH: u32 statement_id | u32 rows
 *   COM_INIT_DB: string<EOF> schema;   COM_FIELD_LIST: string<NUL> table | string<EOF> wildcard
 *   COM_CHANGE_USER: string<NUL> user | auth (u8 length + data with SECURE_CONNECTION) | string<NUL> db | ...
 */
export function decodeCommand(payload: Buffer, ctx: CommandContext): DecodedCommand {
  if (payload.length === 0) throw new SluiceError("MYSQL_BAD_COMMAND", "empty command packet", {});
  const code = payload[0]!;
  const r = new ByteReader(payload, 1);
  try {
    switch (code) {
      case CommandCode.QUERY: {
        let attributes: QueryAttribute[] | undefined;
        if (ctx.capabilities & CaptureCapability.QUERY_ATTRIBUTES) {
          const count = r.lenencLength("parameter count");
          r.lenencLength("parameter set count");
          attributes = count > 0 ? readAttributes(r, count) : [];
        }
        return { kind: "query", sql: r.rest().toString("utf8"), attributes };
      }
      case CommandCode.INIT_DB:
        return { kind: "init_db", database: r.rest().toString("utf8") };
      case CommandCode.FIELD_LIST: {
        const nul = payload.indexOf(0, 1);
        const table = payload.toString("utf8", 1, nul < 0 ? payload.length : nul);
        return { kind: "field_list", table, wildcard: nul < 0 ? "" : payload.toString("utf8", nul + 1) };
      }
      case CommandCode.CHANGE_USER: {
        const user = r.nullTerminatedString("user");
        if (ctx.capabilities & 0x8000 /* SECURE_CONNECTION */) r.skip(r.u8("auth length"), "auth response");
        else r.nullTerminatedString("auth response", "latin1");
        const database = r.remaining > 0 ? r.nullTerminatedString("database") : "";
        return { kind: "change_user", user, database };
      }
      case CommandCode.STMT_PREPARE:
        return { kind: "stmt_prepare", sql: r.rest().toString("utf8") };
      case CommandCode.STMT_EXECUTE:
        return decodeExecute(r, ctx);
      case CommandCode.STMT_SEND_LONG_DATA: {
        const statementId = r.u32("statement id");
        const paramId = r.u16("parameter id");
        return { kind: "stmt_send_long_data", statementId, paramId, length: r.remaining };
      }
      case CommandCode.STMT_CLOSE:
        return { kind: "stmt_close", statementId: r.u32("statement id") };
      case CommandCode.STMT_RESET:
        return { kind: "stmt_reset", statementId: r.u32("statement id") };
      case CommandCode.STMT_FETCH:
        return { kind: "stmt_fetch", statementId: r.u32("statement id"), rows: r.u32("rows") };
      case CommandCode.PROCESS_KILL:
        return { kind: "process_kill", connectionId: r.u32("connection id") };
      case CommandCode.SET_OPTION:
        return { kind: "set_option", option: r.u16("option") };
      default:
        return { kind: COMMAND_KINDS[code] ?? `unknown_0x${code.toString(16)}` };
    }
  } catch (e) {
    throw new SluiceError(
      "MYSQL_BAD_COMMAND",
      `malformed ${COMMAND_KINDS[code] ?? "unknown"} command (${payload.length} bytes)`,
      {
        context: { command: code, length: payload.length, head: payload.subarray(0, 16).toString("hex") },
        hint: "the client sent bytes that do not follow the protocol, or the capture lost part of them",
        cause: e,
      },
    );
  }
}

function decodeExecute(r: ByteReader, ctx: CommandContext): DecodedCommand {
  const statementId = r.u32("statement id");
  const flags = r.u8("flags");
  r.u32("iteration count");
  const stmt = ctx.statements.get(statementId);
  if (!stmt)
    return { kind: "stmt_execute", statementId, flags, params: [], types: undefined, unknownStatement: true };
  let count = stmt.paramCount;
  const attributes = (ctx.capabilities & CaptureCapability.QUERY_ATTRIBUTES) !== 0;
  if (count > 0 || (attributes && flags & PARAMETER_COUNT_AVAILABLE)) {
    if (attributes) count = r.lenencLength("parameter count");
  }
  if (count === 0 || r.remaining === 0)
    return {
      kind: "stmt_execute",
      statementId,
      flags,
      params: [],
      types: stmt.paramTypes,
      unknownStatement: false,
    };
  const nullBitmap = r.bytes((count + 7) >> 3, "null bitmap");
  const bound = r.u8("new params bound flag");
  let types = stmt.paramTypes;
  if (bound === 1) {
    types = [];
    for (let i = 0; i < count; i++) {
      types.push(...readParamTypes(r, 1));
      if (attributes) r.lenencBytes("parameter name");
    }
  }
  if (!types || types.length < count) {
    // Types were bound by an execute the capture did not see: the values cannot be read.
    return { kind: "stmt_execute", statementId, flags, params: [], types, unknownStatement: false };
  }
  const params = readParamValues(r, types.slice(0, count), nullBitmap, stmt.longData);
  return {
    kind: "stmt_execute",
    statementId,
    flags,
    params: params.slice(0, stmt.paramCount),
    types,
    unknownStatement: false,
  };
}

/**
 * COM_STMT_PREPARE_OK: u8 0x00 | u32 statement_id | u16 num_columns | u16 num_params | u8 reserved
 * | u16 warning_count (| u8 metadata_follows, MySQL 8 optional metadata)
 */
export interface PrepareOk {
  statementId: number;
  columns: number;
  params: number;
  warnings: number;
}

export function decodePrepareOk(payload: Buffer): PrepareOk {
  if (payload.length < 9 || payload[0] !== 0)
    throw new SluiceError("MYSQL_BAD_PACKET", `malformed COM_STMT_PREPARE_OK (${payload.length} bytes)`, {
      context: { head: payload.subarray(0, 16).toString("hex") },
    });
  return {
    statementId: payload.readUInt32LE(1),
    columns: payload.readUInt16LE(5),
    params: payload.readUInt16LE(7),
    warnings: payload.length >= 12 ? payload.readUInt16LE(10) : 0,
  };
}
