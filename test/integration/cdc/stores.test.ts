import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";
import { runCollector } from "../../../src/cdc/runner.ts";
import { localBroker, type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { HistorySink, MysqlHistoryStore, openHistoryStore } from "../../../src/sinks/history/index.ts";
import { StreamLogSink } from "../../../src/sinks/stream.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import { expectedCounts, SETUP, TRACKED, type Workload, workloadStatements } from "./workload.ts";

// The real stores: history and checkpoints in a MariaDB database (on a second sandbox), and the
// stream-log sink; each run twice over the same range (a replay) to show that duplicates go away.

const W: Workload = { statements: 20, rowsPerStatement: 50 };
let source: MariadbSandbox;
let target: MariadbSandbox;
let dir: string;
let start: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-stores-"));
  [source, target] = await Promise.all([startMariadb(), startMariadb()]);
  for (const s of SETUP) await source.query(s);
  const [st] = await source.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  start = `${st!.File}:${st!.Position}`;
  for (const s of workloadStatements(W)) await source.query(s);
});

after(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

test("MariaDB history and checkpoint store: exact counts, a full replay adds nothing, queries work", async () => {
  const url = `${target.url}/cdc_history`;
  for (const name of ["first", "replay"]) {
    const checkpoints = await CheckpointStore.open(url);
    const sink = new HistorySink(await openHistoryStore(url));
    // A different pipeline name replays everything from the start into the same store.
    await runCollector({
      source: source.replicationUrl,
      sink,
      checkpoints,
      name,
      start,
      untilHead: true,
      filter: { include: [TRACKED] },
      chunkRows: 37,
    });
    await sink.close();
    const saved = await checkpoints.load(name);
    assert.ok(saved && saved.offset > 4);
    await checkpoints.close();
  }
  const store = await MysqlHistoryStore.open(url);
  assert.deepEqual(await store.counts(), expectedCounts(W));
  const life = await store.query({ schema: "bench", table: "tracked", pk: "3" });
  assert.deepEqual(
    life.map((e) => e.kind),
    ["insert", "update", "delete"],
  );
  assert.deepEqual(
    life[1]!.columns.map((c) => c.name),
    ["data"],
  );
  await store.close();
  const [tables] = await target.query<{ n: number }>(
    "SELECT count(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'cdc_history' AND TABLE_NAME IN ('binlog','row','column','cdc_checkpoint','cdc_range')",
  );
  assert.equal(Number(tables!.n), 5);
});

test("stream-log sink: one record per row change, keyed by table and primary key", async () => {
  const url = `file:${join(dir, "changes.db")}?stream=cdc`;
  const checkpoints = await CheckpointStore.open(`file:${join(dir, "cp.db")}`);
  const sink = await StreamLogSink.open(url);
  await runCollector({
    source: source.replicationUrl,
    sink,
    checkpoints,
    start,
    untilHead: true,
    filter: { include: [TRACKED], kinds: ["bench.tracked=delete"] },
  });
  await sink.close();
  await checkpoints.close();
  const log = await openStreamLog(url);
  const records = await log.read("cdc", 0, { max: 10_000 });
  await log.close();
  assert.equal(records.length, (W.statements / 2) * W.rowsPerStatement);
  const first = JSON.parse(Buffer.from(records[0]!.value).toString()) as {
    kind: string;
    pk: { id: number };
    v: number;
  };
  assert.equal(first.v, 1);
  assert.equal(first.kind, "delete");
  assert.equal(records[0]!.key, `bench.tracked:${first.pk.id}`);
});

test("stream-log sink into RabbitMQ (the local broker): the same records, the same keys", async () => {
  const broker = await localBroker("rabbitmq");
  const stream = `sluice-cdc-${process.pid}-${Date.now()}`;
  const url = `${broker.url}/${stream}`;
  const checkpoints = await CheckpointStore.open(`file:${join(dir, "cp-amqp.db")}`);
  const sink = await StreamLogSink.open(url);
  await runCollector({
    source: source.replicationUrl,
    sink,
    checkpoints,
    start,
    untilHead: true,
    filter: { include: [TRACKED], kinds: ["bench.tracked=insert"] },
  });
  await sink.close();
  await checkpoints.close();
  const log = await openStreamLog(url);
  try {
    const want = (W.statements / 2) * W.rowsPerStatement;
    assert.equal((await log.info(stream)).partitions[0]!.head, want - 1);
    // A broker read hands out what has arrived; read on until every record is in.
    const records: Awaited<ReturnType<typeof log.read>> = [];
    while (records.length < want) {
      const got = await log.read(stream, records.length, { max: want, waitMs: 5000 });
      if (got.length === 0) break;
      records.push(...got);
    }
    assert.equal(records.length, want);
    assert.deepEqual(
      records.map((r) => r.offset),
      [...Array(want).keys()],
    );
    const env = JSON.parse(Buffer.from(records[0]!.value).toString()) as { kind: string; pk: { id: number } };
    assert.equal(env.kind, "insert");
    assert.equal(records[0]!.key, `bench.tracked:${env.pk.id}`);
  } finally {
    await log.deleteStream(stream);
    await log.close();
  }
});
