// Shared by the binlog-rows integration tests: the column catalogue with edge values, reading the
// sandbox's binlog files, and comparing a decoded value with the server's own SELECT text.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before } from "node:test";
import mysql from "mysql2/promise";
import {
  type ColumnNameSource,
  ColumnType,
  cellToJson,
  decodeRowsEvent,
  decodeTableMapEvent,
  type RowsEvent,
  rowsEventLayout,
  type TableMapEvent,
} from "../../../src/codecs/binlog/rows/index.ts";
import { type MariadbSandbox, type MariadbSandboxOptions, startMariadb } from "../../../src/sandbox/index.ts";
import { walkBinlog } from "../../unit/binlog/rows/walk.ts";

/** name, DDL type, then one SQL literal per test row (id 1..5). */
export type ColumnCase = [name: string, ddl: string, values: string[]];

const big = (s: string, n: number) => `'${s.repeat(n)}'`;

export const COLUMNS: ColumnCase[] = [
  ["ti", "TINYINT", ["-128", "127", "NULL", "0", "-1"]],
  ["tiu", "TINYINT UNSIGNED", ["0", "255", "NULL", "128", "1"]],
  ["si", "SMALLINT", ["-32768", "32767", "NULL", "0", "-300"]],
  ["siu", "SMALLINT UNSIGNED", ["0", "65535", "NULL", "32768", "300"]],
  ["mi", "MEDIUMINT", ["-8388608", "8388607", "NULL", "0", "-70000"]],
  ["miu", "MEDIUMINT UNSIGNED", ["0", "16777215", "NULL", "8388608", "70000"]],
  ["i", "INT", ["-2147483648", "2147483647", "NULL", "0", "-5"]],
  ["iu", "INT UNSIGNED", ["0", "4294967295", "NULL", "2147483648", "5"]],
  [
    "bi",
    "BIGINT",
    ["-9223372036854775808", "9223372036854775807", "NULL", "9007199254740993", "-9007199254740993"],
  ],
  [
    "biu",
    "BIGINT UNSIGNED",
    ["0", "18446744073709551615", "NULL", "9223372036854775808", "9007199254740991"],
  ],
  ["d1", "DECIMAL(10,2)", ["-99999999.99", "99999999.99", "NULL", "0", "-0.01"]],
  [
    "d2",
    "DECIMAL(65,30)",
    [
      "-99999999999999999999999999999999999.999999999999999999999999999999",
      "12345678901234567890123456789012345.123456789012345678901234567891",
      "NULL",
      "0",
      "-0.000000000000000000000000000001",
    ],
  ],
  ["d3", "DECIMAL(18,0)", ["-999999999999999999", "999999999999999999", "NULL", "0", "1000000000"]],
  ["d4", "DECIMAL(5,5)", ["-0.99999", "0.99999", "NULL", "0", "0.00001"]],
  ["d5", "DECIMAL(20,10)", ["-1234567890.0987654321", "9999999999.9999999999", "NULL", "0.0000000001", "-1"]],
  ["f", "FLOAT", ["-3.40282e38", "3.40282e38", "NULL", "0", "3.1415927"]],
  ["dbl", "DOUBLE", ["-1.7976931348623157e308", "1.7976931348623157e308", "NULL", "5e-324", "0.1"]],
  ["b1", "BIT(1)", ["b'0'", "b'1'", "NULL", "b'1'", "b'0'"]],
  ["b9", "BIT(9)", ["b'0'", "b'111111111'", "NULL", "b'100000000'", "b'101'"]],
  ["b64", "BIT(64)", ["b'0'", `b'${"1".repeat(64)}'`, "NULL", "9007199254740993", "b'1'"]],
  ["y", "YEAR", ["1901", "2155", "NULL", "0", "2024"]],
  ["dt", "DATE", ["'1000-01-01'", "'9999-12-31'", "NULL", "'0000-00-00'", "'2024-02-29'"]],
  ["tm0", "TIME", ["'-838:59:59'", "'838:59:59'", "NULL", "'00:00:00'", "'-00:00:01'"]],
  ["tm1", "TIME(1)", ["'-838:59:59.9'", "'838:59:59.9'", "NULL", "'-00:00:00.1'", "'25:00:00.5'"]],
  ["tm3", "TIME(3)", ["'-838:59:59.999'", "'838:59:59.999'", "NULL", "'-00:00:00.5'", "'-01:02:03.004'"]],
  ["tm4", "TIME(4)", ["'-12:34:56.7891'", "'838:59:59.9999'", "NULL", "'-00:00:00.0001'", "'00:00:00'"]],
  [
    "tm6",
    "TIME(6)",
    ["'-838:59:59.999999'", "'838:59:59.999999'", "NULL", "'-00:00:00.000001'", "'100:00:00.000001'"],
  ],
  [
    "dtm0",
    "DATETIME",
    [
      "'1000-01-01 00:00:00'",
      "'9999-12-31 23:59:59'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05'",
    ],
  ],
  [
    "dtm2",
    "DATETIME(2)",
    [
      "'1000-01-01 00:00:00.01'",
      "'9999-12-31 23:59:59.99'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05.5'",
    ],
  ],
  [
    "dtm5",
    "DATETIME(5)",
    [
      "'1000-01-01 00:00:00.00001'",
      "'9999-12-31 23:59:59.99999'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05.12345'",
    ],
  ],
  [
    "dtm6",
    "DATETIME(6)",
    [
      "'1000-01-01 00:00:00.000001'",
      "'9999-12-31 23:59:59.999999'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05.678900'",
    ],
  ],
  [
    "ts0",
    "TIMESTAMP NULL",
    [
      "'1970-01-01 00:00:01'",
      "'2038-01-19 03:14:07'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05'",
    ],
  ],
  [
    "ts3",
    "TIMESTAMP(3) NULL",
    [
      "'1970-01-01 00:00:01.001'",
      "'2038-01-19 03:14:07.999'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05.1'",
    ],
  ],
  [
    "ts6",
    "TIMESTAMP(6) NULL",
    [
      "'1970-01-01 00:00:00.000001'",
      "'2038-01-19 03:14:07.999999'",
      "NULL",
      "'0000-00-00 00:00:00'",
      "'2024-01-02 03:04:05.678900'",
    ],
  ],
  ["c", "CHAR(10)", ["''", "'abcdefghij'", "NULL", "'a  '", "'héllo😀'"]],
  ["clong", "CHAR(100)", [big("😀", 100), big("x", 100), "NULL", "' '", "'ü'"]],
  ["cl", "CHAR(10) CHARACTER SET latin1", ["''", "'€ŠŽšžŸ'", "NULL", "'é'", "'ÿ'"]],
  ["vcl", "VARCHAR(20) CHARACTER SET latin1", ["''", "'‚ƒ„…†‡ˆ‰'", "NULL", "'café'", "'x'"]],
  ["vc3", "VARCHAR(20) CHARACTER SET utf8mb3", ["''", "'ünïcødé'", "NULL", "'€'", "'x'"]],
  ["vcs", "VARCHAR(10) CHARACTER SET ucs2", ["''", "'aé€'", "NULL", "'x'", "'ÿ'"]],
  ["v16", "VARCHAR(10) CHARACTER SET utf16", ["''", "'😀é'", "NULL", "'x'", "'€'"]],
  ["v32", "VARCHAR(10) CHARACTER SET utf32", ["''", "'😀é'", "NULL", "'x'", "'€'"]],
  ["vc", "VARCHAR(300)", ["''", big("é", 300), "NULL", "'x'", "'line\\nbreak \\'quote\\''"]],
  ["vcs1", "VARCHAR(60)", ["''", big("z", 60), "NULL", "'😀'", "'tab\\there'"]],
  ["bn", "BINARY(4)", ["X'00010203'", "X'FFFFFFFF'", "NULL", "''", "'ab'"]],
  ["vb", "VARBINARY(300)", ["''", `X'${"ff00".repeat(150)}'`, "NULL", "X'00'", "'text'"]],
  ["tt", "TINYTEXT", ["''", big("t", 255), "NULL", "'é'", "'x'"]],
  ["tx", "TEXT", ["''", big("€", 20000), "NULL", "'é'", "'x'"]],
  ["mt", "MEDIUMTEXT", ["''", big("m", 70000), "NULL", "'é'", "'x'"]],
  ["lt", "LONGTEXT", ["''", big("l", 100000), "NULL", "'é'", "'x'"]],
  ["tb", "TINYBLOB", ["''", `X'${"ab".repeat(255)}'`, "NULL", "X'00'", "'x'"]],
  ["bl", "BLOB", ["''", `X'${"cd".repeat(40000)}'`, "NULL", "X'00ff'", "'x'"]],
  ["mb", "MEDIUMBLOB", ["''", `X'${"ef".repeat(70000)}'`, "NULL", "X'00'", "'x'"]],
  ["lb", "LONGBLOB", ["''", `X'${"01".repeat(100000)}'`, "NULL", "X'00'", "'x'"]],
  ["e", "ENUM('a','b','c d','é')", ["'a'", "'é'", "NULL", "'c d'", "'b'"]],
  ["s", "SET('x','y','z','w ü')", ["''", "'x,y,z,w ü'", "NULL", "'x'", "'y,w ü'"]],
  ["el", "ENUM('é','€','ÿ') CHARACTER SET latin1", ["'é'", "'€'", "NULL", "'ÿ'", "'é'"]],
  ["sl", "SET('à','ß') CHARACTER SET latin1", ["''", "'à,ß'", "NULL", "'ß'", "'à'"]],
  ["j", "JSON", ["'{}'", `'{"a": [1, 2.5, "x", null, true], "b": {"c": "é"}}'`, "NULL", "'[]'", "'\"str\"'"]],
  [
    "g",
    "GEOMETRY",
    [
      "ST_GeomFromText('POINT(1 2)')",
      "ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))')",
      "NULL",
      "ST_GeomFromText('LINESTRING(0 0,1 1)', 4326)",
      "ST_GeomFromText('POINT(-1.5 2.25)')",
    ],
  ],
  [
    "pt",
    "POINT",
    [
      "ST_GeomFromText('POINT(0 0)')",
      "ST_GeomFromText('POINT(1e300 -1e-300)')",
      "NULL",
      "POINT(3, 4)",
      "POINT(-0.5, 0.25)",
    ],
  ],
  ["ag", "VARCHAR(10) CHARACTER SET latin1", ["''", "'€ÿé'", "NULL", "'x'", "'Ÿ'"]],
  [
    "u",
    "UUID",
    [
      "'00000000-0000-0000-0000-000000000000'",
      "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
      "NULL",
      "'6ccd780c-baba-1026-9564-5b8c656024db'",
      "'123e4567-e89b-42d3-a456-426614174000'",
    ],
  ],
  ["i4", "INET4", ["'0.0.0.0'", "'255.255.255.255'", "NULL", "'127.0.0.1'", "'10.1.2.3'"]],
  [
    "i6",
    "INET6",
    ["'::'", "'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'", "NULL", "'::ffff:1.2.3.4'", "'2001:db8::1'"],
  ],
  ["i6b", "INET6", ["'::1'", "'1::'", "NULL", "'1:0:0:2::3'", "'::1.2.3.4'"]],
  // Last, one column of each kind counted by the optional metadata lists (SIGNEDNESS, charsets,
  // ENUM/SET labels): a miscount anywhere before them shows here.
  ["zu", "BIGINT UNSIGNED", ["18446744073709551615", "0", "NULL", "1", "9223372036854775808"]],
  ["zi", "TINYINT", ["-1", "127", "NULL", "0", "-128"]],
  ["zc", "CHAR(3) CHARACTER SET latin1", ["'é'", "'€'", "NULL", "''", "'ÿÿÿ'"]],
  ["zv", "VARCHAR(5)", ["'😀'", "'x'", "NULL", "''", "'ü'"]],
  ["ze", "ENUM('ä','b') CHARACTER SET latin1", ["'ä'", "'b'", "NULL", "'b'", "'ä'"]],
];

export const ROWS = 5;

export function createTableSql(table: string, cols: ColumnCase[] = COLUMNS): string {
  return `CREATE TABLE ${table} (id INT PRIMARY KEY, ${cols.map(([n, d]) => `${n} ${d}`).join(", ")})`;
}

export function insertSql(table: string, id: number, valueRow: number, cols: ColumnCase[] = COLUMNS): string {
  return `INSERT INTO ${table} (id, ${cols.map(([n]) => n).join(", ")}) VALUES (${id}, ${cols.map(([, , v]) => v[valueRow]).join(", ")})`;
}

export function updateSql(table: string, id: number, valueRow: number, cols: ColumnCase[] = COLUMNS): string {
  return `UPDATE ${table} SET ${cols.map(([n, , v]) => `${n} = ${v[valueRow]}`).join(", ")} WHERE id = ${id}`;
}

/**
 * A sandboxed MariaDB for the test file (started before its tests, stopped after) with database `r`
 * and a raw-text connection using it.
 */
export function useSandbox(opts: MariadbSandboxOptions): { sandbox: MariadbSandbox; conn: mysql.Connection } {
  const env = {} as { sandbox: MariadbSandbox; conn: mysql.Connection };
  before(async () => {
    env.sandbox = await startMariadb(opts);
    env.conn = await rawConnection(env.sandbox.url);
    await env.conn.query("CREATE DATABASE r");
    await env.conn.query("USE r");
  });
  after(async () => {
    await env.conn?.end();
    await env.sandbox?.stop();
  });
  return env;
}

/** A connection that returns every value as the server's raw text bytes (Buffer) or null. */
export async function rawConnection(url: string): Promise<mysql.Connection> {
  const u = new URL(url);
  const conn = await mysql.createConnection({
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    charset: "utf8mb4",
    multipleStatements: false,
    typeCast: (field, _next) => field.buffer(),
  });
  await conn.query("SET time_zone = '+00:00', sql_mode = 'STRICT_TRANS_TABLES'");
  return conn;
}

export type ServerRow = Record<string, Buffer | null>;

export async function snapshot(conn: mysql.Connection, table: string): Promise<Map<number, ServerRow>> {
  const [rows] = await conn.query(`SELECT * FROM ${table} ORDER BY id`);
  const out = new Map<number, ServerRow>();
  for (const r of rows as ServerRow[]) out.set(Number(r.id!.toString()), r);
  return out;
}

/** Binlog files of a sandbox in order. */
export function binlogFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^mariadb-bin\.\d+$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export interface DecodedStream {
  rows: RowsEvent[];
  queries: Array<{ offset: number; file: string; sql: string; db: string }>;
}

/**
 * Decodes the row events of every binlog file in `dir` (after `from`, if given), with an optional
 * column-name source; `onQuery` sees QUERY events (for DDL tracking) in stream order.
 */
export async function decodeDir(
  dir: string,
  opts: {
    names?: ColumnNameSource;
    beforeTableMap?: (schema: string, table: string, at: { file: string; offset: number }) => Promise<void>;
    onQuery?: (sql: string, db: string, at: { file: string; offset: number }) => void;
    from?: { file: string; offset: number };
  } = {},
): Promise<DecodedStream & { end: { file: string; offset: number } }> {
  const out: DecodedStream = { rows: [], queries: [] };
  let end = { file: "", offset: 0 };
  for (const path of binlogFiles(dir)) {
    const file = path.slice(path.lastIndexOf("/") + 1);
    if (opts.from && file < opts.from.file) continue;
    const { ctx, events } = walkBinlog(path, readFileSync(path));
    const tables = new Map<bigint, TableMapEvent>();
    for (const e of events) {
      const at = { file, offset: e.offset };
      end = { file, offset: e.offset + 19 + e.body.length + (ctx.checksum === 1 ? 4 : 0) };
      if (opts.from && file === opts.from.file && e.offset < opts.from.offset) continue;
      if (e.typeCode === 2) {
        const q = parseQueryEvent(e.body);
        out.queries.push({ ...at, ...q });
        opts.onQuery?.(q.sql, q.db, at);
      } else if (e.typeCode === 19) {
        const schemaLen = e.body[8]!;
        const schema = e.body.toString("utf8", 9, 9 + schemaLen);
        const tl = e.body[9 + schemaLen + 1]!;
        const table = e.body.toString("utf8", 9 + schemaLen + 2, 9 + schemaLen + 2 + tl);
        await opts.beforeTableMap?.(schema, table, at);
        const map = decodeTableMapEvent(e.body, ctx, at, opts.names);
        tables.set(map.tableId, map);
      } else if (rowsEventLayout(e.typeCode)) {
        out.rows.push(decodeRowsEvent(e.body, e.typeCode, ctx, tables, at));
      }
    }
  }
  return { ...out, end };
}

/** QUERY_EVENT: thread_id u32 | exec_time u32 | db_len u8 | error u16 | status_len u16 | status | db | 0 | sql */
function parseQueryEvent(body: Buffer): { db: string; sql: string } {
  const dbLen = body[8]!;
  const statusLen = body.readUInt16LE(11);
  const dbAt = 13 + statusLen;
  return {
    db: body.toString("utf8", dbAt, dbAt + dbLen),
    sql: body.toString("utf8", dbAt + dbLen + 1),
  };
}

/** The server's text of a FLOAT (6 significant digits) from the single-precision value a decoded number names. */
export function floatText6(v: number): number {
  return Number(Math.fround(v).toPrecision(6));
}

/**
 * Asserts that a decoded image equals the server's SELECT row for every column present in it.
 * Returns the names of the columns compared.
 */
export function assertImageMatches(
  ev: RowsEvent,
  image: Record<string, unknown>,
  server: ServerRow,
  label: string,
): string[] {
  const compared: string[] = [];
  for (const col of ev.table.columns) {
    const name = col.name ?? `@${col.index + 1}`;
    if (!(name in image)) continue;
    compared.push(name);
    const got = image[name];
    const want = server[name];
    const where = `${label} ${ev.table.table}.${name}`;
    if (want === null || want === undefined) {
      assert.equal(got, null, `${where}: server has NULL`);
      continue;
    }
    assert.notEqual(got, null, `${where}: decoded NULL, server has ${want.toString()}`);
    if (col.dataType === "json") {
      // MariaDB JSON: the document SELECT returns, parsed; or exactly its text when kept as text
      const text = want.toString("utf8");
      if (got !== text) assert.deepEqual(got, JSON.parse(text), where);
      continue;
    }
    switch (col.realType) {
      case ColumnType.FLOAT:
        assert.equal(floatText6(got as number), Number(want.toString()), where);
        break;
      case ColumnType.DOUBLE:
        assert.equal(got, Number(want.toString()), where);
        break;
      case ColumnType.BIT:
        assert.equal(String(got), BigInt(`0x${want.toString("hex") || "0"}`).toString(), where);
        break;
      case ColumnType.YEAR:
        assert.equal(got, Number(want.toString()), where);
        break;
      default:
        if (typeof got === "object" && got !== null && "base64" in got) {
          assert.equal((got as { base64: string }).base64, want.toString("base64"), where);
        } else {
          assert.equal(String(got), want.toString("utf8"), where);
        }
    }
  }
  return compared;
}

export { cellToJson };
