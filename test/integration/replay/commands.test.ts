import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { replaySessions } from "../../../src/replay/player.ts";
import { formatSummary, renderHtml } from "../../../src/replay/report.ts";
import { Scheduler } from "../../../src/replay/scheduler.ts";
import { plansFromPcap } from "../../../src/replay/source.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/** Session 1 connecting as root into `db`. */
function connectEvent(ts: number, db: string): SessionEvent {
  return {
    type: "connect",
    session: 1,
    ts,
    client: "127.0.0.1:40001",
    server: "127.0.0.1:3306",
    user: "root",
    db,
    serverVersion: undefined,
    connectionId: 1,
    capabilities: undefined,
    compressed: false,
    tls: false,
    midStream: false,
  };
}

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

test("a statement prepared, closed and prepared again is prepared again on the target (mysql2's statement cache)", async () => {
  const s = new Scheduler("max");
  let ts = 1_000;
  s.add(connectEvent(ts++, "mysql"));
  const sql = "SELECT ? + 1 AS n";
  const steps: Array<[string, number, number[]?]> = [
    ["stmt_prepare", 1],
    ["stmt_execute", 1, [1]],
    ["stmt_close", 1],
    ["stmt_prepare", 2],
    ["stmt_execute", 2, [2]],
  ];
  let seq = 0;
  for (const [kind, id, params] of steps) {
    seq++;
    s.add({
      type: "command",
      session: 1,
      seq,
      ts: ts++,
      kind,
      ...(kind === "stmt_prepare" ? { sql } : { statementId: id }),
      ...(params ? { params } : {}),
      db: "mysql",
    });
    if (kind !== "stmt_close")
      s.add({
        type: "response",
        session: 1,
        seq,
        ts: ts++,
        kind: "ok",
        ok: true,
        affectedRows: 0,
        warnings: 0,
        resultSets: kind === "stmt_execute" ? 1 : 0,
        columns: 1,
        rows: kind === "stmt_execute" ? 1 : 0,
        ...(kind === "stmt_prepare" ? { statementId: id, paramCount: 1 } : {}),
        latencyUs: 10,
      });
  }
  s.add({ type: "close", session: 1, ts: ts++, reason: "fin", commands: seq });
  await db.query("SET GLOBAL general_log = 1");
  await db.query("TRUNCATE mysql.general_log");
  const result = await replaySessions(s.plans(), { target: db.url, speed: "max" });
  await db.query("SET GLOBAL general_log = 0");
  assert.equal(result.summary.differences.errors, 0, JSON.stringify(result.summary));
  const log = await db.query<{ command_type: string; argument: string | Buffer }>(
    "SELECT command_type, argument FROM mysql.general_log WHERE command_type IN ('Prepare', 'Execute', 'Close stmt')",
  );
  assert.deepEqual(
    log.map((l) => `${l.command_type}: ${String(l.argument)}`),
    [
      `Prepare: ${sql}`,
      "Execute: SELECT 1 + 1 AS n",
      "Close stmt: ",
      `Prepare: ${sql}`,
      "Execute: SELECT 2 + 1 AS n",
    ],
  );
});

test("a target with a table missing and an index dropped: error differences and the plan difference, for those fingerprints only", async () => {
  for (const d of ["shop", "shop_copy"]) {
    await db.query(`CREATE DATABASE ${d}`);
    await db.query(`CREATE TABLE ${d}.t (id INT PRIMARY KEY, k INT, v INT, KEY idx_k (k))`);
    await db.query(`INSERT INTO ${d}.t SELECT seq, seq % 50, seq FROM ${d}.seq_1_to_500`);
    await db.query(`ANALYZE TABLE ${d}.t`);
  }
  await db.query("CREATE TABLE shop.u (id INT PRIMARY KEY)");
  await db.query("ALTER TABLE shop_copy.t DROP INDEX idx_k");
  const s = new Scheduler("max");
  let ts = 1_000;
  s.add(connectEvent(ts++, "shop"));
  const sqls = ["SELECT v FROM t WHERE k = 7", "SELECT v FROM t WHERE id = 3", "SELECT COUNT(*) FROM u"];
  let seq = 0;
  for (const sql of sqls) {
    seq++;
    s.add({ type: "command", session: 1, seq, ts: ts++, kind: "query", sql, db: "shop" });
    s.add({
      type: "response",
      session: 1,
      seq,
      ts: ts++,
      kind: "resultset",
      ok: true,
      affectedRows: 0,
      warnings: 0,
      resultSets: 1,
      columns: 1,
      rows: 1,
      latencyUs: 10,
    });
  }
  s.add({ type: "close", session: 1, ts: ts++, reason: "fin", commands: seq });
  const result = await replaySessions(s.plans(), {
    target: db.url,
    speed: "max",
    dbMap: new Map([["shop", "shop_copy"]]),
    explain: { source: db.url },
  });
  const fp = (name: string) => result.summary.fingerprints.find((f) => f.fingerprint === name);
  assert.deepEqual(fp("select count(*) from u")?.errorDiffs, [{ source: 0, target: 1146, count: 1 }]);
  assert.deepEqual(fp("select v from t where k=?")?.errorDiffs, []);
  const plans = result.summary.plans ?? [];
  assert.equal(plans.length, 3, JSON.stringify(plans));
  const differing = plans.filter((p) => p.differs).map((p) => p.fingerprint);
  assert.deepEqual(differing, ["select v from t where k=?", "select count(*) from u"], JSON.stringify(plans));
  const k = plans.find((p) => p.fingerprint === "select v from t where k=?");
  assert.equal(k?.source, "t:ref idx_k");
  assert.equal(k?.target, "t:ALL");
  assert.match(formatSummary(result.summary), /source t:ref idx_k -> target t:ALL/);
  assert.match(renderHtml(result.summary), /<tr class="diff"><td>t:ref idx_k<\/td><td>t:ALL<\/td>/);
  assert.equal(typeof fp("select v from t where k=?")?.p50Ratio, "number", "target/source latency ratio");
});
