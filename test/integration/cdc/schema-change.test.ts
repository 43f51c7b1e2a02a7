import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";
import { runCollector } from "../../../src/cdc/runner.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { type HistoryEntry, HistorySink, SqliteHistoryStore } from "../../../src/sinks/history/index.ts";

// ALTER TABLE in the middle of a run (add, drop, reorder columns): every column in the history keeps
// its right name. Also exercises `sluice history` and `sluice cdc status` end to end.

let db: MariadbSandbox;
let dir: string;
const env = { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_LOG_LEVEL: "warn" };
const sluice = (args: string[]) =>
  spawnSync(process.execPath, ["bin/sluice.js", ...args], { env, encoding: "utf8" });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-ddl-"));
  db = await startMariadb();
});

after(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("add, drop and reorder columns mid-run: names stay right; history row/table and status work", async () => {
  await db.query("CREATE DATABASE shop");
  await db.query("CREATE TABLE shop.users (id INT PRIMARY KEY, name VARCHAR(20), status VARCHAR(10))");
  const store = `file:${join(dir, "h.db")}`;
  const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const run = () =>
    sluice([
      "cdc",
      "run",
      "--source",
      db.replicationUrl,
      "--store",
      store,
      "--start",
      `${st!.File}:${st!.Position}`,
      "--until-head",
      "--include",
      "shop.*",
      "--json",
    ]);

  await db.query("INSERT INTO shop.users VALUES (1, 'ann', 'open')");
  // A first run before the schema changes, so that the run after them continues from a checkpoint.
  const first = run();
  assert.equal(first.status, 0, first.stderr);
  await db.query("ALTER TABLE shop.users ADD COLUMN email VARCHAR(40) AFTER name");
  await db.query("UPDATE shop.users SET email = 'ann@x' WHERE id = 1");
  await db.query("INSERT INTO shop.users VALUES (2, 'bob', 'bob@x', 'open')");
  await db.query("ALTER TABLE shop.users DROP COLUMN name");
  await db.query("UPDATE shop.users SET status = 'closed' WHERE id = 1");
  await db.query("ALTER TABLE shop.users MODIFY COLUMN status VARCHAR(10) FIRST");
  await db.query("UPDATE shop.users SET email = 'ann@y', status = 'gone' WHERE id = 1");
  await db.query("DELETE FROM shop.users WHERE id = 1");
  const second = run();
  assert.equal(second.status, 0, second.stderr);

  const row = sluice(["history", "row", "shop.users", "--pk", "1", "--store", store, "--json"]);
  assert.equal(row.status, 0, row.stderr);
  const entries = (JSON.parse(row.stdout) as { entries: HistoryEntry[] }).entries;
  const cols = (e: HistoryEntry) =>
    Object.fromEntries(e.columns.map((c) => [c.name, [c.before ?? null, c.after ?? null]]));
  assert.deepEqual(
    entries.map((e) => e.kind),
    ["insert", "update", "update", "update", "delete"],
  );
  assert.deepEqual(cols(entries[0]!), { id: [null, 1], name: [null, "ann"], status: [null, "open"] });
  assert.deepEqual(cols(entries[1]!), { email: [null, "ann@x"] });
  assert.deepEqual(cols(entries[2]!), { status: ["open", "closed"] });
  assert.deepEqual(cols(entries[3]!), { status: ["closed", "gone"], email: ["ann@x", "ann@y"] });
  assert.deepEqual(
    entries[4]!.columns.map((c) => [c.name, c.before]),
    [
      ["status", "gone"],
      ["id", 1],
      ["email", "ann@y"],
    ],
  );

  const text = sluice(["history", "row", "shop.users", "--pk", "1", "--store", store]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /update .*\n\s+status\s+'open' -> 'closed'/);

  const table = sluice(["history", "table", "shop.users", "--since", "1h", "--store", store]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /6 changes in 6 transactions: 2 insert, 3 update, 1 delete/);
  const none = sluice(["history", "table", "shop.users", "--to", "2000-01-01", "--store", store]);
  assert.match(none.stdout, /no changes/);

  const status = sluice([
    "cdc",
    "status",
    "--store",
    store,
    "--source",
    db.replicationUrl,
    "--json",
    "--max-lag",
    "1h",
  ]);
  assert.equal(status.status, 0, status.stderr);
  const s = JSON.parse(status.stdout) as {
    head: { file: string; offset: number };
    checkpoint: { file: string; offset: number };
    lagExceeded: boolean;
    throughput: { events: number; eventsPerSecond: number };
  };
  assert.deepEqual(s.checkpoint.offset, s.head.offset);
  assert.equal(s.lagExceeded, false);
  assert.ok(s.throughput.events > 0 && s.throughput.eventsPerSecond > 0);
  const late = sluice(["cdc", "status", "--store", store, "--name", "never-ran", "--max-lag", "5m"]);
  assert.equal(late.status, 3, late.stderr);
});

test("binlog_row_metadata=MINIMAL: names from information_schema, tracked across ALTERs while following", async () => {
  const minimal = await startMariadb({ binlogRowMetadata: "MINIMAL" });
  try {
    await minimal.query("CREATE DATABASE shop");
    await minimal.query("CREATE TABLE shop.items (id INT PRIMARY KEY, title VARCHAR(20), qty INT UNSIGNED)");
    const path = join(dir, "minimal.db");
    const checkpoints = await CheckpointStore.open(`file:${path}`);
    const store = new SqliteHistoryStore(path);
    const controller = new AbortController();
    const run = runCollector({
      source: minimal.replicationUrl,
      sink: new HistorySink(store),
      checkpoints,
      start: "now",
      heartbeatSeconds: 1,
      signal: controller.signal,
    });
    while (!(await checkpoints.load("default"))) await sleep(50);
    let rows = 0;
    // Each change is collected before the next DDL, as a collector that keeps up sees them.
    const step = async (sql: string, changes = 1) => {
      await minimal.query(sql);
      rows += changes;
      while ((await store.counts()).row < rows) await sleep(50);
    };
    await step("INSERT INTO shop.items VALUES (1, 'pen', 4294967295)");
    await step("ALTER TABLE shop.items ADD COLUMN price DECIMAL(6,2) AFTER title", 0);
    await step("UPDATE shop.items SET price = 1.50 WHERE id = 1");
    await step("ALTER TABLE shop.items DROP COLUMN title", 0);
    await step("ALTER TABLE shop.items MODIFY COLUMN qty INT UNSIGNED FIRST", 0);
    await step("UPDATE shop.items SET qty = 7, price = 2.00 WHERE id = 1");
    await step("DELETE FROM shop.items WHERE id = 1");
    controller.abort();
    await run;
    const life = await store.query({ schema: "shop", table: "items", pk: "1" });
    const cols = (e: HistoryEntry) =>
      Object.fromEntries(e.columns.map((c) => [c.name, [c.before ?? null, c.after ?? null]]));
    assert.deepEqual(
      life.map((e) => e.kind),
      ["insert", "update", "update", "delete"],
    );
    assert.deepEqual(cols(life[0]!), { id: [null, 1], title: [null, "pen"], qty: [null, 4294967295] });
    assert.deepEqual(cols(life[1]!), { price: [null, "1.50"] });
    assert.deepEqual(cols(life[2]!), { qty: [4294967295, 7], price: ["1.50", "2.00"] });
    assert.deepEqual(cols(life[3]!), { qty: [7, null], id: [1, null], price: ["2.00", null] });
    await store.close();
    await checkpoints.close();
  } finally {
    await minimal.stop();
  }
});
