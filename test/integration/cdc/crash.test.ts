import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { SqliteHistoryStore } from "../../../src/sinks/history/index.ts";
import { expectedCounts, SETUP, TRACKED, type Workload, workloadStatements } from "./workload.ts";

// The integrity test users care about most: the collector is killed with SIGKILL at random moments
// while the workload runs, restarted each time, and the history still holds every change exactly once.

const W: Workload = { statements: 80, rowsPerStatement: 100 };
let db: MariadbSandbox;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-crash-"));
  db = await startMariadb();
  for (const s of SETUP) await db.query(s);
});

after(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const env = { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_LOG_LEVEL: "warn" };

test("SIGKILL at random moments during the run, restart each time: exact counts", async () => {
  const store = join(dir, "history.db");
  const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const start = `${st!.File}:${st!.Position}`;
  const args = [
    "bin/sluice.js",
    "cdc",
    "run",
    "--source",
    db.replicationUrl,
    "--store",
    `file:${store}`,
    "--start",
    start,
    "--include",
    TRACKED,
    "--checkpoint-every",
    "7",
    "--chunk-rows",
    "40",
  ];
  let workloadDone = false;
  const workload = (async () => {
    for (const s of workloadStatements(W)) {
      await db.query(s);
      await sleep(5);
    }
    workloadDone = true;
  })();
  // A seeded generator, so that a failing run can be told apart from the next by its kill times.
  let seed = Number(process.env.SLUICE_TEST_SEED ?? Date.now() % 100000);
  const seedText = String(seed);
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  let kills = 0;
  while (!workloadDone || kills < 3) {
    const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const early = await Promise.race([sleep(800 + random() * 2500).then(() => undefined), exited]);
    assert.equal(early, undefined, `the collector exited by itself (seed ${seedText}): ${stderr}`);
    child.kill("SIGKILL");
    await exited;
    kills++;
  }
  await workload;
  const last = spawnSync(process.execPath, [...args, "--until-head", "--json"], { env, encoding: "utf8" });
  assert.equal(last.status, 0, last.stderr);
  const h = new SqliteHistoryStore(store);
  assert.deepEqual(await h.counts(), expectedCounts(W), `seed ${seedText}, ${kills} kills`);
  await h.close();
});
