import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";
import { runCollector } from "../../../src/cdc/runner.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { HistorySink, SqliteHistoryStore } from "../../../src/sinks/history/index.ts";
import { JsonLinesSink } from "../../../src/sinks/jsonl.ts";
import { expectedCounts, SETUP, TRACKED, type Workload, workloadStatements } from "./workload.ts";

const W: Workload = { statements: 80, rowsPerStatement: 100 };
let db: MariadbSandbox;
let dir: string;
let startPos: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-it-"));
  db = await startMariadb();
  for (const s of SETUP) await db.query(s);
  const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  startPos = `${st!.File}:${st!.Position}`;
  for (const s of workloadStatements(W)) await db.query(s);
});

after(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("until-head run of the seed's workload (small scale): exact binlog/row/column counts; a second run adds nothing", async () => {
  const path = join(dir, "h1.db");
  const run = async () => {
    const checkpoints = await CheckpointStore.open(`file:${path}`);
    const sink = new HistorySink(new SqliteHistoryStore(path));
    try {
      return await runCollector({
        source: db.replicationUrl,
        sink,
        checkpoints,
        start: startPos,
        untilHead: true,
        filter: { include: [TRACKED] },
        chunkRows: 30,
      });
    } finally {
      await sink.close();
      await checkpoints.close();
    }
  };
  const first = await run();
  assert.equal(first.ended, "stop");
  assert.equal(first.transactions, 3 * W.statements);
  const store = new SqliteHistoryStore(path);
  assert.deepEqual(await store.counts(), expectedCounts(W));
  await store.close();
  const second = await run();
  assert.equal(second.transactions, 0);
  const again = new SqliteHistoryStore(path);
  assert.deepEqual(await again.counts(), expectedCounts(W));
  // One row's life: inserted, its data updated, deleted.
  const life = await again.query({ schema: "bench", table: "tracked", pk: "1" });
  assert.deepEqual(
    life.map((e) => [e.kind, e.columns.map((c) => c.name).join(",")]),
    [
      ["insert", "id,data,data2,admin_id"],
      ["update", "data"],
      ["delete", "id,data,data2,admin_id"],
    ],
  );
  await again.close();
  const cp = await CheckpointStore.open(`file:${path}`);
  const saved = await cp.load("default");
  const [head] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  assert.deepEqual([saved!.file, saved!.offset], [head!.File, Number(head!.Position)]);
  await cp.close();
});

test("jsonl sink with kinds, columns and a predicate: only what the filters let through", async () => {
  const out = join(dir, "changes.jsonl");
  const checkpoints = await CheckpointStore.open(`file:${join(dir, "cp2.db")}`);
  const sink = await JsonLinesSink.open(out);
  await runCollector({
    source: db.replicationUrl,
    sink,
    checkpoints,
    start: startPos,
    untilHead: true,
    filter: {
      include: ["bench.*"],
      kinds: ["bench.*=delete"],
      columns: ["bench.*.id", "bench.*.admin_id"],
      where: "before.admin_id = 'admin_0003'",
    },
  });
  await sink.close();
  await checkpoints.close();
  const lines = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  // admin_0003 owns 100 rows in each of the two tables.
  assert.equal(lines.length, 2 * W.rowsPerStatement);
  for (const l of lines) {
    assert.equal(l.kind, "delete");
    assert.deepEqual(Object.keys(l.before), ["id", "admin_id"]);
    assert.equal(l.before.admin_id, "admin_0003");
    assert.deepEqual(l.pk, { id: l.before.id });
    assert.match(l.transaction.id, /^\d+-\d+-\d+$/);
  }
});
