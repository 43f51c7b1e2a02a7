import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import mysql from "mysql2/promise";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

interface VariableRow {
  Variable_name: string;
  Value: string;
}

async function variables(s: MariadbSandbox, names: string[]): Promise<Record<string, string>> {
  const rows = await s.query<VariableRow>(
    `SHOW VARIABLES WHERE Variable_name IN (${names.map(() => "?").join(",")})`,
    names,
  );
  return Object.fromEntries(rows.map((r) => [r.Variable_name, r.Value]));
}

let full: MariadbSandbox;
let minimal: MariadbSandbox;

before(async () => {
  [full, minimal] = await Promise.all([
    startMariadb(),
    startMariadb({ binlogRowMetadata: "MINIMAL", binlogRowImage: "MINIMAL", gtidDomainId: 7 }),
  ]);
});

after(async () => {
  await Promise.all([full?.stop(), minimal?.stop()]);
});

test("two sandboxes at once have their own port, server id and datadir", () => {
  assert.notEqual(full.port, minimal.port);
  assert.notEqual(full.port, 3306);
  assert.notEqual(full.serverId, minimal.serverId);
  assert.notEqual(full.datadir, minimal.datadir);
  assert.equal(full.url, `mysql://root@127.0.0.1:${full.port}`);
});

test("each sandbox has its own tmpdir: a server starting clears #sql files in its tmpdir", async () => {
  const [a, b] = await Promise.all([variables(full, ["tmpdir"]), variables(minimal, ["tmpdir"])]);
  assert.equal(a.tmpdir, `${full.datadir}.tmp`);
  assert.equal(b.tmpdir, `${minimal.datadir}.tmp`);
  // A temporary table on disk survives another sandbox's start (sharing /tmp, its files were unlinked
  // under it: reads still worked through the open files, the drop then said Unknown table, and the
  // server's own internal temp tables failed with EE_DELETE).
  const conn = await mysql.createConnection(full.url);
  try {
    await conn.query("CREATE TEMPORARY TABLE test.t_tmp (id INT) ENGINE=Aria");
    await conn.query("INSERT INTO test.t_tmp VALUES (1), (2)");
    const other = await startMariadb();
    await other.stop();
    const [rows] = await conn.query("SELECT COUNT(*) AS n FROM test.t_tmp");
    assert.deepEqual(rows, [{ n: 2 }]);
    await conn.query("DROP TEMPORARY TABLE test.t_tmp");
  } finally {
    await conn.end();
  }
});

test("binlog is on, ROW format with FULL metadata by default", async () => {
  const v = await variables(full, [
    "log_bin",
    "binlog_format",
    "binlog_row_metadata",
    "binlog_row_image",
    "server_id",
    "log_slave_updates",
  ]);
  assert.deepEqual(v, {
    log_bin: "ON",
    binlog_format: "ROW",
    binlog_row_metadata: "FULL",
    binlog_row_image: "FULL",
    server_id: String(full.serverId),
    log_slave_updates: "ON",
  });
});

test("row metadata and row image are switchable, gtid domain is set", async () => {
  const v = await variables(minimal, ["binlog_row_metadata", "binlog_row_image", "gtid_domain_id"]);
  assert.deepEqual(v, { binlog_row_metadata: "MINIMAL", binlog_row_image: "MINIMAL", gtid_domain_id: "7" });
});

test("writes land in the binlog and advance the GTID position", async () => {
  await full.query("CREATE DATABASE shop");
  await full.query("CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))");
  await full.query("INSERT INTO shop.items VALUES (?, ?), (?, ?)", [1, "a", 2, "b"]);
  const rows = await full.query<{ n: number }>("SELECT COUNT(*) AS n FROM shop.items");
  assert.equal(Number(rows[0]?.n), 2);
  const [pos] = await full.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
  assert.match(pos?.pos ?? "", new RegExp(`^0-${full.serverId}-3$`));
  assert.ok(existsSync(`${full.binlogDir}/${full.binlogBasename}.000001`));
});

test("the replication user can read the binlog position and list", async () => {
  const conn = await mysql.createConnection(full.replicationUrl);
  try {
    const [status] = await conn.query("SHOW MASTER STATUS");
    assert.equal((status as { File: string }[])[0]?.File, "mariadb-bin.000001");
    const [logs] = await conn.query("SHOW BINARY LOGS");
    assert.ok((logs as unknown[]).length >= 1);
    await assert.rejects(conn.query("CREATE DATABASE nope"), /denied/);
  } finally {
    await conn.end();
  }
});

test("stop removes the datadir and is idempotent", async () => {
  const s = await startMariadb();
  assert.ok(existsSync(s.datadir));
  await s.stop();
  await s.stop();
  assert.equal(existsSync(s.datadir), false);
  assert.equal(existsSync(`${s.datadir}.tmp`), false);
  await assert.rejects(s.query("SELECT 1"), /stopped/);
});
