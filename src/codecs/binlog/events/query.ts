import { SluiceError } from "../../../core/errors.ts";
import { mariadbUncompress } from "../mariadb-compression.ts";
import type { ByteReader } from "../reader.ts";
import { charsetOfCollation, decodeText } from "../rows/charsets.ts";
import { EventType, type FormatContext, postHeaderLength } from "../types.ts";

/**
 * QUERY_EVENT (2), MARIADB_QUERY_COMPRESSED_EVENT (165), and the query part of EXECUTE_LOAD_QUERY (18):
 *   post-header: thread_id u32 | exec_time u32 | db_len u8 | error_code u16
 *                | status_vars_len u16 (binlog v4; absent when the post-header is 11 bytes)
 *                | [EXECUTE_LOAD_QUERY: file_id u32 | start_pos u32 | end_pos u32 | dup_handling u8]
 *   body: status_vars[status_vars_len] | db[db_len] NUL | query (to the end; MariaDB-compressed in 165)
 * Status variables are `code u8` + a value whose size depends on the code; there is no length, so an
 * unknown code ends their parsing (what follows it stays in `unparsedStatusVars`), as servers do.
 */
export interface QueryStatus {
  flags2?: number;
  sqlMode?: bigint;
  catalog?: string;
  autoIncrementIncrement?: number;
  autoIncrementOffset?: number;
  charsetClient?: number;
  collationConnection?: number;
  collationServer?: number;
  timeZone?: string;
  lcTimeNames?: number;
  collationDatabase?: number;
  tableMapForUpdate?: bigint;
  masterDataWritten?: number;
  invokerUser?: string;
  invokerHost?: string;
  updatedDbNames?: string[];
  microseconds?: number;
  explicitDefaultsForTimestamp?: number;
  ddlXid?: bigint;
  defaultCollationForUtf8mb4?: number;
  sqlRequirePrimaryKey?: number;
  defaultTableEncryption?: number;
  /** MariaDB Q_XID: the XID of a DDL logged as its own transaction. */
  xid?: bigint;
  gtidFlags3?: number;
  /** With gtidFlags3 COMMIT/ROLLBACK ALTER: the sequence number of the START ALTER it completes. */
  startAlterSeqNo?: bigint;
  /** MariaDB 11.2+ character_set_collations: [charset id, default collation id] pairs. */
  characterSetCollations?: Array<[number, number]>;
  /** First status-variable code this decoder does not know (parsing stopped there). */
  unknownCode?: number;
}

export interface QueryData {
  type: "query" | "mariadb_query_compressed";
  threadId: number;
  execTime: number;
  errorCode: number;
  database: string;
  query: string;
  status: QueryStatus;
}

export interface ExecuteLoadQueryData extends Omit<QueryData, "type"> {
  type: "execute_load_query";
  fileId: number;
  startPos: number;
  endPos: number;
  dupHandling: number;
}

const Q = {
  FLAGS2: 0,
  SQL_MODE: 1,
  CATALOG: 2,
  AUTO_INCREMENT: 3,
  CHARSET: 4,
  TIME_ZONE: 5,
  CATALOG_NZ: 6,
  LC_TIME_NAMES: 7,
  CHARSET_DATABASE: 8,
  TABLE_MAP_FOR_UPDATE: 9,
  MASTER_DATA_WRITTEN: 10,
  INVOKER: 11,
  UPDATED_DB_NAMES: 12,
  MICROSECONDS: 13,
  COMMIT_TS: 14,
  COMMIT_TS2: 15,
  EXPLICIT_DEFAULTS_FOR_TIMESTAMP: 16,
  DDL_LOGGED_WITH_XID: 17,
  DEFAULT_COLLATION_FOR_UTF8MB4: 18,
  SQL_REQUIRE_PRIMARY_KEY: 19,
  DEFAULT_TABLE_ENCRYPTION: 20,
  MARIADB_HRNOW: 128,
  MARIADB_XID: 129,
  MARIADB_GTID_FLAGS3: 130,
  MARIADB_CHARACTER_SET_COLLATIONS: 131,
} as const;

/** 254 in Q_UPDATED_DB_NAMES: more databases than the event lists (OVER_MAX_DBS_IN_EVENT_MTS). */
const OVER_MAX_DBS = 254;

function decodeStatusVars(r: ByteReader): QueryStatus {
  const s: QueryStatus = {};
  while (r.remaining > 0) {
    const code = r.u8("status var code");
    switch (code) {
      case Q.FLAGS2:
        s.flags2 = r.u32("Q_FLAGS2");
        break;
      case Q.SQL_MODE:
        s.sqlMode = r.u64("Q_SQL_MODE");
        break;
      case Q.CATALOG: {
        // 5.0.0-5.0.3: length, string, NUL
        const n = r.u8("Q_CATALOG length");
        s.catalog = r.string(n, "Q_CATALOG");
        r.skip(1, "Q_CATALOG NUL");
        break;
      }
      case Q.AUTO_INCREMENT:
        s.autoIncrementIncrement = r.u16("Q_AUTO_INCREMENT increment");
        s.autoIncrementOffset = r.u16("Q_AUTO_INCREMENT offset");
        break;
      case Q.CHARSET:
        s.charsetClient = r.u16("Q_CHARSET client");
        s.collationConnection = r.u16("Q_CHARSET connection");
        s.collationServer = r.u16("Q_CHARSET server");
        break;
      case Q.TIME_ZONE:
        s.timeZone = r.string(r.u8("Q_TIME_ZONE length"), "Q_TIME_ZONE");
        break;
      case Q.CATALOG_NZ:
        s.catalog = r.string(r.u8("Q_CATALOG_NZ length"), "Q_CATALOG_NZ");
        break;
      case Q.LC_TIME_NAMES:
        s.lcTimeNames = r.u16("Q_LC_TIME_NAMES");
        break;
      case Q.CHARSET_DATABASE:
        s.collationDatabase = r.u16("Q_CHARSET_DATABASE");
        break;
      case Q.TABLE_MAP_FOR_UPDATE:
        s.tableMapForUpdate = r.u64("Q_TABLE_MAP_FOR_UPDATE");
        break;
      case Q.MASTER_DATA_WRITTEN:
        s.masterDataWritten = r.u32("Q_MASTER_DATA_WRITTEN");
        break;
      case Q.INVOKER:
        s.invokerUser = r.string(r.u8("Q_INVOKER user length"), "Q_INVOKER user");
        s.invokerHost = r.string(r.u8("Q_INVOKER host length"), "Q_INVOKER host");
        break;
      case Q.UPDATED_DB_NAMES: {
        const n = r.u8("Q_UPDATED_DB_NAMES count");
        const names: string[] = [];
        if (n !== OVER_MAX_DBS)
          for (let i = 0; i < n; i++) names.push(r.nullTerminatedString("Q_UPDATED_DB_NAMES"));
        s.updatedDbNames = names;
        break;
      }
      case Q.MICROSECONDS:
        s.microseconds = r.u24("Q_MICROSECONDS");
        break;
      case Q.COMMIT_TS:
        // Reserved by MySQL and never written with a value; nothing to read.
        break;
      case Q.COMMIT_TS2:
        r.skip(8, "Q_COMMIT_TS2");
        break;
      case Q.EXPLICIT_DEFAULTS_FOR_TIMESTAMP:
        s.explicitDefaultsForTimestamp = r.u8("Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP");
        break;
      case Q.DDL_LOGGED_WITH_XID:
        s.ddlXid = r.u64("Q_DDL_LOGGED_WITH_XID");
        break;
      case Q.DEFAULT_COLLATION_FOR_UTF8MB4:
        s.defaultCollationForUtf8mb4 = r.u16("Q_DEFAULT_COLLATION_FOR_UTF8MB4");
        break;
      case Q.SQL_REQUIRE_PRIMARY_KEY:
        s.sqlRequirePrimaryKey = r.u8("Q_SQL_REQUIRE_PRIMARY_KEY");
        break;
      case Q.DEFAULT_TABLE_ENCRYPTION:
        s.defaultTableEncryption = r.u8("Q_DEFAULT_TABLE_ENCRYPTION");
        break;
      case Q.MARIADB_HRNOW:
        s.microseconds = r.u24("Q_HRNOW");
        break;
      case Q.MARIADB_XID:
        s.xid = r.u64("Q_XID");
        break;
      case Q.MARIADB_GTID_FLAGS3:
        // the GTID's extra flags; COMMIT/ROLLBACK ALTER (4, 8) add the START ALTER's sequence number
        s.gtidFlags3 = r.u8("Q_GTID_FLAGS3");
        if (s.gtidFlags3 & (4 | 8)) s.startAlterSeqNo = r.u64("Q_GTID_FLAGS3 sa_seq_no");
        break;
      case Q.MARIADB_CHARACTER_SET_COLLATIONS: {
        // MariaDB 11.2+: the session's character_set_collations, count u8 then (charset u16, collation u16)
        const n = r.u8("Q_CHARACTER_SET_COLLATIONS count");
        const pairs: Array<[number, number]> = [];
        for (let i = 0; i < n; i++)
          pairs.push([
            r.u16("Q_CHARACTER_SET_COLLATIONS charset"),
            r.u16("Q_CHARACTER_SET_COLLATIONS collation"),
          ]);
        s.characterSetCollations = pairs;
        break;
      }
      default:
        s.unknownCode = code;
        r.rest();
        return s;
    }
  }
  return s;
}

/**
 * The statement in the client's character set (Q_CHARSET): latin1 sessions are decoded as MySQL's
 * latin1 (cp1252); everything else as UTF-8, which is right for utf8/utf8mb4/ascii sessions (the
 * charset ids stay in `status` for the rest).
 */
function queryText(bytes: Buffer, charsetClient: number | undefined): string {
  if (charsetClient !== undefined) {
    const cs = charsetOfCollation(charsetClient);
    if (cs === "latin1" || cs === "ascii") return decodeText(bytes, 0, bytes.length, cs);
  }
  return bytes.toString("utf8");
}

interface QueryPostHeader {
  threadId: number;
  execTime: number;
  dbLen: number;
  errorCode: number;
  statusLen: number;
}

function readQueryPostHeader(r: ByteReader, postHeaderLen: number): QueryPostHeader {
  const threadId = r.u32("thread_id");
  const execTime = r.u32("exec_time");
  const dbLen = r.u8("db_len");
  const errorCode = r.u16("error_code");
  const statusLen = postHeaderLen >= 13 ? r.u16("status_vars_len") : 0;
  return { threadId, execTime, dbLen, errorCode, statusLen };
}

function readQueryBody(
  r: ByteReader,
  ph: QueryPostHeader,
  compressed: boolean,
): Omit<QueryData, "type" | "threadId" | "execTime" | "errorCode"> {
  const status = decodeStatusVars(r.sub(ph.statusLen, "status_vars"));
  const database = r.string(ph.dbLen, "db name");
  r.skip(1, "db name NUL");
  let text: Buffer = r.rest();
  if (compressed) text = mariadbUncompress(text, "compressed query", r.file, r.base + r.pos - text.length);
  return { status, database, query: queryText(text, status.charsetClient) };
}

export function decodeQuery(r: ByteReader, ctx: FormatContext, typeCode: number): QueryData {
  const phLen = postHeaderLength(ctx, typeCode, 13);
  const ph = readQueryPostHeader(r, phLen);
  if (phLen > 13) r.skip(phLen - 13, "query post-header");
  const compressed = typeCode === EventType.MARIADB_QUERY_COMPRESSED;
  const body = readQueryBody(r, ph, compressed);
  return {
    type: compressed ? "mariadb_query_compressed" : "query",
    threadId: ph.threadId,
    execTime: ph.execTime,
    errorCode: ph.errorCode,
    ...body,
  };
}

export function decodeExecuteLoadQuery(r: ByteReader, ctx: FormatContext): ExecuteLoadQueryData {
  const phLen = postHeaderLength(ctx, EventType.EXECUTE_LOAD_QUERY, 26);
  if (phLen < 26)
    throw new SluiceError(
      "BINLOG_BAD_VALUE",
      `execute_load_query: post-header of ${phLen} bytes is too short`,
      {
        context: { file: r.file, offset: r.base + r.pos },
      },
    );
  const ph = readQueryPostHeader(r, 13);
  const fileId = r.u32("file_id");
  const startPos = r.u32("start_pos");
  const endPos = r.u32("end_pos");
  const dupHandling = r.u8("dup_handling");
  if (phLen > 26) r.skip(phLen - 26, "execute_load_query post-header");
  const body = readQueryBody(r, ph, false);
  return {
    type: "execute_load_query",
    threadId: ph.threadId,
    execTime: ph.execTime,
    errorCode: ph.errorCode,
    fileId,
    startPos,
    endPos,
    dupHandling,
    ...body,
  };
}
