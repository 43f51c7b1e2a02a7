import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CheckpointStore, processedUpTo } from "../../../src/cdc/checkpoint.ts";
import { type CdcOutput, ChangeTransformer } from "../../../src/cdc/transformer.ts";
import { SqliteHistoryStore } from "../../../src/sinks/history/sqlite.ts";
import type { ChangeChunk } from "../../../src/sinks/types.ts";
import { del, ins, Stream, tableMap, upd } from "./events.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-cdc-stores-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const users = tableMap("shop", "users", ["id", "name", "status", "price"], { pk: [0] });

/** Three transactions: 3 inserts, 2 updates (one column each), 1 delete; chunks of 2. */
function sampleChunks(): ChangeChunk[] {
  const s = new Stream();
  const t = new ChangeTransformer({ chunkRows: 2 });
  const inputs = [
    s.begin(),
    s.rows("write", users, [
      ins(1, "ann", "open", "1.00"),
      ins(2, "bob", "open", "2.00"),
      ins(3, "cy", "open", "3.00"),
    ]),
    s.commit(),
    s.begin(),
    s.rows("update", users, [upd([1, "ann", "open", "1.00"], [1, "ann", "closed", "1.00"])]),
    s.rows("update", users, [upd([1, "ann", "closed", "1.00"], [1, "ann", "closed", "1.50"])]),
    s.commit(),
    s.begin(),
    s.rows("delete", users, [del(2, "bob", "open", "2.00")]),
    s.commit(),
  ];
  return inputs
    .flatMap((e) => t.push(e))
    .filter((o): o is Extract<CdcOutput, { type: "chunk" }> => o.type === "chunk");
}

test("history store: binlog/row/column counts follow the normalization rules", async () => {
  const store = new SqliteHistoryStore(join(dir, "h1.db"));
  for (const c of sampleChunks()) await store.writeChunk(c);
  // 3 transactions; 6 row changes; columns: 3 inserts x 4 + 2 updates x 1 + 1 delete x 4.
  assert.deepEqual(await store.counts(), { binlog: 3, row: 6, column: 18 });
  await store.close();
});

test("history store: loading the same chunks again (a replay) stores nothing twice", async () => {
  const store = new SqliteHistoryStore(join(dir, "h2.db"));
  const chunks = sampleChunks();
  for (const c of chunks) await store.writeChunk(c);
  // A crash after the first chunk of the first transaction, and a replay of everything.
  for (const c of [chunks[0]!, ...chunks]) await store.writeChunk(c);
  assert.deepEqual(await store.counts(), { binlog: 3, row: 6, column: 18 });
  await store.close();
});

test("history store: a row's timeline by primary key, columns in table order", async () => {
  const store = new SqliteHistoryStore(join(dir, "h3.db"));
  for (const c of sampleChunks()) await store.writeChunk(c);
  const one = await store.query({ schema: "shop", table: "users", pk: "1" });
  assert.deepEqual(
    one.map((e) => e.kind),
    ["insert", "update", "update"],
  );
  assert.deepEqual(
    one[0]!.columns.map((c) => c.name),
    ["id", "name", "status", "price"],
  );
  assert.deepEqual(one[1]!.columns, [{ name: "status", before: "open", after: "closed" }]);
  assert.deepEqual(one[2]!.columns, [{ name: "price", before: "1.00", after: "1.50" }]);
  assert.equal(one[0]!.gtid, "0-1-1");
  const two = await store.query({ schema: "shop", table: "users", pk: "2" });
  assert.deepEqual(
    two.map((e) => e.kind),
    ["insert", "delete"],
  );
  assert.deepEqual(two[1]!.columns[1], { name: "name", before: "bob", after: undefined });
  const all = await store.query({ schema: "shop", table: "users", limit: 4 });
  assert.equal(all.length, 4);
  assert.deepEqual(await store.query({ schema: "shop", table: "users", from: 1_800_000_000 }), []);
  assert.equal((await store.query({ schema: "shop", table: "users", to: 1_700_000_000 })).length, 6);
  await store.close();
});

test("checkpoint store: save/load survives reopening; ranges are durable; the lag rule", async () => {
  const path = `file:${join(dir, "cp.db")}`;
  const cp = await CheckpointStore.open(path);
  assert.equal(await cp.load("p"), undefined);
  await cp.save("p", { file: "bin.000001", offset: 400, gtid: "0-1-5", timestamp: 100, processedTime: 100 });
  await cp.addRanges(
    "p",
    [
      {
        startFile: "bin.000001",
        startOffset: 400,
        endFile: "bin.000001",
        endOffset: 900,
        currentTime: 110,
        eventsTotal: 50,
      },
      {
        startFile: "bin.000001",
        startOffset: 900,
        endFile: "bin.000002",
        endOffset: 300,
        currentTime: 150,
        eventsTotal: 70,
      },
    ],
    { file: "bin.000002", offset: 300, gtid: "0-1-20", timestamp: 200, processedTime: 200 },
  );
  await cp.close();
  const again = await CheckpointStore.open(path);
  const loaded = await again.load("p");
  assert.equal(loaded!.offset, 300);
  assert.equal(loaded!.gtid, "0-1-20");
  let ranges = await again.ranges("p");
  assert.deepEqual(
    ranges.map((r) => [r.currentFile, r.currentOffset, r.eventsDone]),
    [
      ["bin.000001", 400],
      ["bin.000001", 900],
    ].map(([f, o]) => [f, o, 0]),
  );
  assert.equal(processedUpTo(loaded, ranges), 110);
  await again.saveRange(ranges[0]!.id, "bin.000001", 700, 160, 30);
  ranges = await again.ranges("p");
  assert.equal(processedUpTo(loaded, ranges), 150);
  await again.removeRange(ranges[1]!.id);
  assert.equal(processedUpTo(loaded, await again.ranges("p")), 160);
  await again.removeRange(ranges[0]!.id);
  assert.equal(processedUpTo(loaded, await again.ranges("p")), 200);
  assert.deepEqual(await again.ranges("other"), []);
  await again.close();
});

test("checkpoint store: an older table without events/rate is upgraded on open; both are kept", async () => {
  const path = join(dir, "old.db");
  const Database = (await import("better-sqlite3")).default;
  const old = new Database(path);
  old.exec(`CREATE TABLE cdc_checkpoint (name TEXT PRIMARY KEY, file TEXT NOT NULL, pos INTEGER NOT NULL, gtid TEXT,
    timestamp INTEGER NOT NULL, processed_time INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
  old.prepare("INSERT INTO cdc_checkpoint VALUES ('p', 'bin.000001', 4, NULL, 1, 1, 1)").run();
  old.close();
  const cp = await CheckpointStore.open(`file:${path}`);
  assert.equal((await cp.load("p"))!.events, 0);
  await cp.save("p", {
    file: "bin.000001",
    offset: 99,
    gtid: null,
    timestamp: 2,
    processedTime: 2,
    events: 1234,
    rate: 56.5,
  });
  const got = await cp.load("p");
  assert.deepEqual([got!.offset, got!.events, got!.rate], [99, 1234, 56.5]);
  await cp.close();
});
