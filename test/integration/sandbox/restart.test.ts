import assert from "node:assert/strict";
import { test } from "node:test";
import mysql from "mysql2/promise";
import { startMariadb } from "../../../src/sandbox/index.ts";
import { isAlive } from "../../../src/sandbox/process.ts";

for (const crash of [false, true]) {
  test(`restart${crash ? " after a crash (SIGKILL)" : ""} keeps port, data and GTID history, with a new binlog file`, async () => {
    const s = await startMariadb();
    try {
      await s.query("CREATE DATABASE r");
      await s.query("CREATE TABLE r.t (id INT PRIMARY KEY)");
      await s.query("INSERT INTO r.t VALUES (1), (2)");
      const [before] = await s.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
      const oldPid = s.pid;
      await s.restart({ crash });
      assert.notEqual(s.pid, oldPid);
      assert.equal(isAlive(oldPid), false);
      const rows = await s.query<{ id: number }>("SELECT id FROM r.t ORDER BY id");
      assert.deepEqual(
        rows.map((r) => r.id),
        [1, 2],
      );
      const [after] = await s.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
      assert.equal(after?.pos, before?.pos);
      const logs = await s.query<{ Log_name: string }>("SHOW BINARY LOGS");
      assert.deepEqual(
        logs.map((l) => l.Log_name),
        ["mariadb-bin.000001", "mariadb-bin.000002"],
      );
      // The replication user and its password survive too.
      const repl = await mysql.createConnection(s.replicationUrl);
      await repl.end();
    } finally {
      await s.stop();
    }
  });
}
