import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { replaySessions } from "../../../src/replay/player.ts";
import { plansFromPcap } from "../../../src/replay/source.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

let db: MariadbSandbox;
before(async () => {
  db = await startMariadb();
});
after(async () => {
  await db?.stop();
});

test("COM_CHANGE_USER and COM_RESET_CONNECTION are replayed: the general log shows them in the session's order", async () => {
  await db.query("CREATE DATABASE sluice_capture");
  await db.query("SET GLOBAL log_output = 'TABLE'");
  await db.query("SET GLOBAL general_log = 1");
  const plans = await plansFromPcap(join(root, "test/fixtures/pcap/commands.pcap"), [44991], "max");
  const kinds = plans.flatMap((p) => p.commands.map((c) => c.command.kind));
  assert.ok(kinds.includes("change_user") && kinds.includes("reset_connection"), kinds.join(","));
  await db.query("TRUNCATE mysql.general_log");
  const result = await replaySessions(plans, { target: db.url, speed: "max" });
  await db.query("SET GLOBAL general_log = 0");
  const log = await db.query<{ command_type: string; argument: string | Buffer }>(
    "SELECT command_type, argument FROM mysql.general_log",
  );
  const s = result.summary;
  assert.equal(s.skipped, 0, JSON.stringify(s));
  const fp = (name: string) => s.fingerprints.find((f) => f.fingerprint === name);
  for (const name of ["change_user", "reset_connection"]) {
    assert.equal(fp(name)?.count, 1, name);
    assert.equal(fp(name)?.targetErrors, 0, name);
  }
  // The witness: the target ran the session's commands in the captured order, the user change (into
  // database mysql, as captured) between the failing multi-statement and the statement after it.
  // (MariaDB does not write COM_PING and COM_RESET_CONNECTION to the general log.)
  const ran = log
    .map((l) => `${l.command_type}: ${String(l.argument)}`)
    .filter((l) => !l.startsWith("Query: SET GLOBAL"));
  assert.deepEqual(ran, [
    "Connect: root@127.0.0.1 on sluice_capture using TCP/IP",
    "Query: CREATE TABLE IF NOT EXISTS li (id INT, name VARCHAR(10))",
    "Query: TRUNCATE li",
    "Query: LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE li",
    "Query: SELECT COUNT(*) AS n FROM li",
    "Prepare: SELECT name FROM li WHERE id = ?",
    "Execute: SELECT name FROM li WHERE id = 2",
    "Close stmt: ",
    "Query: SELECT 1; SELECT * FROM missing_table; SELECT 3",
    "Change user: root@127.0.0.1 on mysql using TCP/IP",
    "Query: SELECT DATABASE() AS db",
    "Query: SELECT 'after reset'",
    "Quit: ",
  ]);
  // LOAD DATA LOCAL's file is not replayed: its rows show as a difference, not as a failed replay.
  assert.equal(fp("load data local infile ? into table li")?.affectedMismatches, 1);
});
