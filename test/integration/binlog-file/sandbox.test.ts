// A real MariaDB's binlog: the events Sluice decodes sit exactly where mariadb-binlog puts them, with
// the GTIDs the server reports; --follow sees new transactions and follows FLUSH BINARY LOGS.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import mysql from "mysql2/promise";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";

let sandbox: MariadbSandbox;

before(async () => {
  sandbox = await startMariadb();
  await sandbox.query("CREATE DATABASE b");
  await sandbox.query("CREATE TABLE b.t (id INT PRIMARY KEY, a VARCHAR(201), n BIGINT UNSIGNED)");
});

after(async () => {
  await sandbox?.stop();
});

async function head(): Promise<{ file: string; position: number }> {
  const [row] = await sandbox.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  return { file: row!.File, position: Number(row!.Position) };
}

async function readAll(file: string): Promise<BinlogEvent[]> {
  const out: BinlogEvent[] = [];
  for await (const ev of readBinlogFiles({ files: [join(sandbox.binlogDir, file)] })) out.push(ev);
  return out;
}

test("a closed binlog: same event offsets as mariadb-binlog, GTIDs as the server reports them", async () => {
  await sandbox.query("INSERT INTO b.t VALUES (1, 'x', 18446744073709551615), (2, NULL, 0)");
  await sandbox.query("UPDATE b.t SET a = 'y' WHERE id = 1");
  await sandbox.query("DELETE FROM b.t WHERE id = 2");
  await sandbox.query("ALTER TABLE b.t ADD COLUMN z INT");
  const { file } = await head();
  const [gtid] = await sandbox.query<{ g: string }>("SELECT @@gtid_binlog_pos AS g");
  await sandbox.query("FLUSH BINARY LOGS");
  const events = await readAll(file);
  const text = execFileSync("mariadb-binlog", [join(sandbox.binlogDir, file)], { encoding: "utf8" });
  const theirs = [...text.matchAll(/^# at (\d+)$/gm)].map((m) => Number(m[1]));
  const ours = events.filter((e) => e.position.payloadOffset === undefined).map((e) => e.position.offset);
  assert.deepEqual(ours, theirs);
  const gtids = events.filter((e) => e.type === "mariadb_gtid").map((e) => e.gtid);
  assert.equal(gtids[gtids.length - 1], gtid!.g);
  const upd = events.find((e) => e.type === "update_rows_v1");
  assert.ok(upd && "rows" in upd && upd.rows);
  const last = events[events.length - 1]!;
  assert.equal(last.type, "rotate");
  const q = events.filter((e) => e.type === "query").map((e) => (e.type === "query" ? e.query : ""));
  assert.ok(q.some((s) => s.startsWith("ALTER TABLE b.t ADD COLUMN z INT")));
});

test("follow: new transactions arrive, FLUSH BINARY LOGS moves to the next file", async () => {
  const start = await head();
  const controller = new AbortController();
  const seen: BinlogEvent[] = [];
  const reading = (async () => {
    for await (const ev of readBinlogFiles({
      files: [join(sandbox.binlogDir, start.file)],
      follow: true,
      pollIntervalMs: 20,
      signal: controller.signal,
    })) {
      seen.push(ev);
      if (ev.type === "write_rows_v1" && ev.position.file !== start.file) controller.abort();
    }
  })();
  await sandbox.query("INSERT INTO b.t (id, a) VALUES (10, 'before flush')");
  await sandbox.query("FLUSH BINARY LOGS");
  await sandbox.query("INSERT INTO b.t (id, a) VALUES (11, 'after flush')");
  await reading;
  const writes = seen.filter((e) => e.type === "write_rows_v1");
  assert.equal(writes.length, 2);
  assert.equal(writes[0]!.position.file, start.file);
  assert.notEqual(writes[1]!.position.file, start.file);
});

test("statement format: a MariaDB transaction of several queries carries one GTID up to its COMMIT", async () => {
  const { file } = await head();
  const conn = await mysql.createConnection(sandbox.url);
  try {
    await conn.query("SET SESSION binlog_format = 'STATEMENT'");
    await conn.query("BEGIN");
    await conn.query("INSERT INTO b.t (id, a) VALUES (100, 's1')");
    await conn.query("INSERT INTO b.t (id, a) VALUES (101, 's2')");
    await conn.query("COMMIT");
    await conn.query("CREATE TABLE b.s (x INT)");
  } finally {
    await conn.end();
  }
  await sandbox.query("FLUSH BINARY LOGS");
  const events = (await readAll(file)).filter((e) => e.position.offset >= 0);
  const inserts = events.filter(
    (e) => e.type === "query" && e.query.startsWith("INSERT INTO b.t (id, a) VALUES (10"),
  );
  assert.equal(inserts.length, 2);
  const g = inserts[0]!.gtid;
  assert.match(g ?? "", /^0-\d+-\d+$/);
  assert.equal(inserts[1]!.gtid, g);
  const commit = events.find(
    (e) => e.position.offset > inserts[1]!.position.offset && (e.type === "xid" || e.type === "query"),
  );
  assert.equal(commit?.gtid, g);
  const ddl = events.find((e) => e.type === "query" && e.query.startsWith("CREATE TABLE b.s"));
  assert.ok(ddl?.gtid && ddl.gtid !== g);
});

test("query text in a latin1 session decodes as the server stored it", async () => {
  const { file } = await head();
  const conn = await mysql.createConnection({ uri: sandbox.url, charset: "LATIN1_SWEDISH_CI" });
  try {
    await conn.query("SET SESSION binlog_format = 'STATEMENT'");
    await conn.query("INSERT INTO b.t (id, a) VALUES (300, 'café crème')");
  } finally {
    await conn.end();
  }
  await sandbox.query("FLUSH BINARY LOGS");
  const events = await readAll(file);
  const q = events.find((e) => e.type === "query" && e.query.includes("VALUES (300"));
  assert.ok(q?.type === "query");
  assert.equal(q.status.charsetClient, 8);
  assert.match(q.query, /'café crème'/);
  const [row] = await sandbox.query<{ a: string }>("SELECT a FROM b.t WHERE id = 300");
  assert.equal(row!.a, "café crème");
});

test("statement format: user variables, INSERT_ID and LAST_INSERT_ID come before their statement", async () => {
  const { file } = await head();
  const conn = await mysql.createConnection({ uri: sandbox.url, charset: "UTF8MB4_UNICODE_CI" });
  try {
    await conn.query("SET SESSION binlog_format = 'STATEMENT'");
    await conn.query(
      "CREATE TABLE b.uv (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(40), d DECIMAL(10,3), n BIGINT)",
    );
    await conn.query("SET @s = 'crème', @d = 12.345, @n = -42, @z = NULL");
    await conn.query("INSERT INTO b.uv (s, d, n) VALUES (@s, @d, @n), (IFNULL(@z, 'z'), NULL, NULL)");
  } finally {
    await conn.end();
  }
  await sandbox.query("FLUSH BINARY LOGS");
  const events = await readAll(file);
  const vars = new Map<string, unknown>();
  for (const e of events) if (e.type === "user_var") vars.set(e.name, e.isNull ? null : e.value);
  assert.equal(vars.get("s"), "crème");
  assert.equal(vars.get("d"), "12.345");
  assert.equal(vars.get("n"), -42n);
  assert.equal(vars.get("z"), null);
  const insert = events.findIndex((e) => e.type === "query" && e.query.startsWith("INSERT INTO b.uv"));
  assert.equal(events[insert - 1]!.type, "user_var");
  assert.ok(events.slice(0, insert).some((e) => e.type === "intvar" && e.kind === "insert_id"));
});
