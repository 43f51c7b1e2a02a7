import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";
import { type BinlogEventRow, partitionRange } from "../../../src/cdc/partition.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { SqliteHistoryStore } from "../../../src/sinks/history/index.ts";
import { expectedCounts, SETUP, TRACKED, type Workload, workloadStatements } from "./workload.ts";

const W: Workload = { statements: 80, rowsPerStatement: 100 };
let db: MariadbSandbox;
let dir: string;
let start: string;
const env = { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_LOG_LEVEL: "warn" };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-part-"));
  db = await startMariadb();
  for (const s of SETUP) await db.query(s);
  const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  start = `${st!.File}:${st!.Position}`;
  for (const s of workloadStatements(W)) await db.query(s);
  // A second binlog file, so that ranges cross a rotation.
  await db.query("FLUSH BINARY LOGS");
  for (const s of workloadStatements({ statements: 2, rowsPerStatement: 1 })) await db.query(s);
});

after(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const total = () => {
  const e = expectedCounts(W);
  const x = expectedCounts({ statements: 2, rowsPerStatement: 1 });
  return { binlog: e.binlog + x.binlog, row: e.row + x.row, column: e.column + x.column };
};

test("the partitioner against a real server: ranges cut at GTIDs, every event counted once", async () => {
  const files = (await db.query<{ Log_name: string }>("SHOW BINARY LOGS")).map((r) => r.Log_name);
  const [head] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const [file, offset] = [
    start.slice(0, start.lastIndexOf(":")),
    Number(start.slice(start.lastIndexOf(":") + 1)),
  ];
  const show = (f: string, pos: number, skip: number, count: number) =>
    db.query<BinlogEventRow>(`SHOW BINLOG EVENTS IN ? FROM ${pos} LIMIT ${skip}, ${count}`, [f]);
  const ranges = await partitionRange(show, {
    start: { file: file!, offset },
    head: { file: head!.File, offset: Number(head!.Position) },
    files,
    rangeEvents: 300,
  });
  assert.ok(ranges.length > 3);
  let counted = 0;
  for (const f of files) {
    const rows = await db.query<BinlogEventRow>(`SHOW BINLOG EVENTS IN ?`, [f]);
    // Up to the head the partitioner was given: MariaDB may write a Binlog_checkpoint event after it
    // (once the engine has made the previous file's transactions durable; late on a loaded machine).
    counted += rows.filter(
      (r) =>
        (f !== file || Number(r.Pos) >= offset) &&
        (f !== head!.File || Number(r.Pos) < Number(head!.Position)),
    ).length;
  }
  assert.equal(
    ranges.reduce((a, r) => a + r.events, 0),
    counted,
  );
  for (const r of ranges.slice(0, -1)) {
    const [ev] = await db.query<BinlogEventRow>(`SHOW BINLOG EVENTS IN ? FROM ${r.endOffset} LIMIT 1`, [
      r.endFile,
    ]);
    assert.equal(ev!.Event_type, "Gtid");
  }
});

test("--workers 3 --until-head: exact counts, no open range left; SIGKILL of the whole group mid-run resumes the recorded ranges", async (t) => {
  const store = join(dir, "h.db");
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
    "--workers",
    "3",
    "--range-events",
    "400",
    "--checkpoint-every",
    "5",
    "--until-head",
    "--json",
  ];
  // First attempt: killed (parent and workers) once the ranges are recorded and some are under way.
  // Polled until then however long the start takes on a loaded machine; the attempt ends by itself
  // (--until-head) if it is never seen under way.
  const child = spawn(process.execPath, args, { env, stdio: "ignore", detached: true });
  let running = true;
  const exited = new Promise((resolve) => child.once("exit", resolve)).finally(() => {
    running = false;
  });
  let openBefore = 0;
  while (running) {
    await sleep(50);
    const cp = await CheckpointStore.open(`file:${store}`).catch(() => undefined);
    if (!cp) continue;
    const ranges = await cp.ranges("default").catch(() => []);
    await cp.close();
    if (ranges.some((r) => r.eventsDone > 0)) {
      openBefore = ranges.length;
      const done = ranges.reduce((a, r) => a + r.eventsDone, 0);
      t.diagnostic(`killed with ${openBefore} ranges open, ${done} of their events done`);
      break;
    }
  }
  assert.ok(openBefore > 0, "the first attempt ended before any range was seen under way");
  process.kill(-child.pid!, "SIGKILL");
  await exited;
  const second = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  assert.equal(second.status, 0, second.stderr);
  const summary = JSON.parse(second.stdout.trim().split("\n").at(-1)!) as { ranges: number };
  // The second run worked off the ranges the first one recorded, not a new partitioning.
  assert.ok(summary.ranges <= openBefore, `${summary.ranges} ranges after ${openBefore} were open`);
  const h = new SqliteHistoryStore(store);
  assert.deepEqual(await h.counts(), total());
  await h.close();
  const cp = await CheckpointStore.open(`file:${store}`);
  assert.deepEqual(await cp.ranges("default"), []);
  const [head] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  const saved = await cp.load("default");
  assert.deepEqual([saved!.file, saved!.offset], [head!.File, Number(head!.Position)]);
  await cp.close();
});
