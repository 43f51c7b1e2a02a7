import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";
import { runCollector } from "../../../src/cdc/runner.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { HistorySink, SqliteHistoryStore } from "../../../src/sinks/history/index.ts";
import { waitFor } from "../wait.ts";

let db: MariadbSandbox;
let dir: string;
const env = { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_LOG_LEVEL: "warn" };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-idle-"));
  db = await startMariadb();
  await db.query("CREATE DATABASE shop");
  await db.query("CREATE TABLE shop.t (id INT PRIMARY KEY, v INT)");
});

after(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const until = <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> =>
  waitFor(what, fn, { everyMs: 100 });

test("an idle source does not look late: heartbeats move 'processed up to' past the last change; stop checkpoints at the head", async () => {
  const path = join(dir, "h.db");
  const checkpoints = await CheckpointStore.open(`file:${path}`);
  const sink = new HistorySink(new SqliteHistoryStore(path));
  const controller = new AbortController();
  const run = runCollector({
    source: db.replicationUrl,
    sink,
    checkpoints,
    start: "now",
    heartbeatSeconds: 1,
    checkpointEvery: 1000,
    signal: controller.signal,
  });
  const first = await until("the first checkpoint", async () => checkpoints.load("default"));
  await db.query("INSERT INTO shop.t VALUES (1, 1), (2, 2)");
  const [[ts]] = [await db.query<{ t: number }>("SELECT UNIX_TIMESTAMP() AS t")];
  // No new transaction after this one: only heartbeats can move the processed time past it.
  const later = await until("a heartbeat after the change", async () => {
    const cp = await checkpoints.load("default");
    return cp && cp.offset > first.offset && cp.processedTime > Number(ts!.t) ? cp : undefined;
  });
  assert.ok(later.processedTime > Number(ts!.t));
  controller.abort();
  const result = await run;
  assert.equal(result.ended, "signal");
  const [head] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const saved = await checkpoints.load("default");
  assert.deepEqual([saved!.file, saved!.offset], [head!.File, Number(head!.Position)]);
  await sink.close();
  await checkpoints.close();
});

test("SIGTERM stops `sluice cdc run` cleanly with a checkpoint; the next run continues from it", async () => {
  const store = `file:${join(dir, "cli.db")}`;
  const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const args = [
    "bin/sluice.js",
    "cdc",
    "run",
    "--source",
    db.replicationUrl,
    "--store",
    store,
    "--start",
    `${st!.File}:${st!.Position}`,
    "--checkpoint-every",
    "1000",
  ];
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  for (let i = 10; i < 20; i++) await db.query(`INSERT INTO shop.t VALUES (${i}, ${i})`);
  const h = new SqliteHistoryStore(join(dir, "cli.db"));
  await until("the inserts in the history", async () => ((await h.counts()).row === 10 ? true : undefined));
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  const cp = await CheckpointStore.open(store);
  const [head] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const saved = await cp.load("default");
  assert.deepEqual([saved!.file, saved!.offset], [head!.File, Number(head!.Position)]);
  await cp.close();
  await db.query("UPDATE shop.t SET v = v + 1 WHERE id >= 10");
  const next = spawnSync(process.execPath, [...args, "--until-head", "--json"], { env, encoding: "utf8" });
  assert.equal(next.status, 0, next.stderr);
  assert.equal((JSON.parse(next.stdout) as { transactions: number }).transactions, 1);
  assert.deepEqual(await h.counts(), { binlog: 11, row: 20, column: 30 });
  await h.close();
});
