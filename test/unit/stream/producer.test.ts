// The producer policies over a backend whose writes fail on demand. A real SQLite file or broker
// cannot be made to fail one chosen write, so this backend injects the fault; everything else about
// the policies is covered by the conformance suite against real servers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { metricsRegistry } from "../../../src/core/metrics.ts";
import { PolicyProducer } from "../../../src/stream/producer.ts";
import type { StreamBackend, StreamRecord } from "../../../src/stream/types.ts";

function failingBackend(failOnWrite: number) {
  const written: string[] = [];
  let writes = 0;
  const backend = {
    adapter: "sqlite",
    url: "file:/fault.db",
    write: async (_stream: string, records: readonly StreamRecord[]) => {
      await new Promise((r) => setTimeout(r, 1));
      if (++writes === failOnWrite) throw new Error("disk I/O error");
      written.push(...records.map((r) => r.key));
    },
  } as unknown as StreamBackend;
  return { backend, written };
}

const r = (key: string): StreamRecord => ({ key, value: Buffer.alloc(10), timestamp: 0 });

test("block: a failed write rejects the appends it held and every later one; nothing is claimed", async () => {
  const { backend, written } = failingBackend(2);
  const p = new PolicyProducer(backend, "s", { policy: "block", maxBatch: 2 });
  const results = await Promise.allSettled([
    p.append([r("a"), r("b")]),
    p.append([r("c")]),
    p.append([r("d")]),
  ]);
  assert.equal(results[0]?.status, "fulfilled");
  assert.equal(results[1]?.status, "rejected");
  assert.equal(
    results[2]?.status,
    "rejected",
    "queued behind the failure: rejected, not written out of order",
  );
  assert.deepEqual(written, ["a", "b"]);
  await assert.rejects(p.append([r("e")]), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_APPEND_FAILED");
    assert.match(e.message, /disk I\/O error/);
    return true;
  });
  const s = p.stats();
  assert.equal(s.appended, 2);
  assert.equal(s.failed, 2);
  assert.equal(s.queued, 0);
});

test("drop: a failed write is counted and the producer carries on", async () => {
  const { backend, written } = failingBackend(1);
  const p = new PolicyProducer(backend, "s", { policy: "drop", maxBatch: 1 });
  assert.deepEqual(await p.append([r("a")]), { accepted: 1, dropped: 0 });
  await p.flush();
  await p.append([r("b")]);
  await p.flush();
  assert.deepEqual(written, ["b"]);
  const s = p.stats();
  assert.equal(s.failed, 1);
  assert.equal(s.appended, 1);
  assert.match(s.lastError ?? "", /disk I\/O error/);
});

test("drop: the queue bound holds in records and in bytes", async () => {
  const { backend } = failingBackend(0);
  const p = new PolicyProducer(backend, "bounded", {
    policy: "drop",
    maxQueuedRecords: 3,
    maxQueuedBytes: 25,
  });
  const res = await p.append([r("a"), r("b"), r("c"), r("d")]);
  assert.deepEqual(res, { accepted: 2, dropped: 2 }, "two 10-byte records fit in 25 bytes");
  const dropped = await metricsRegistry.getSingleMetric("sluice_stream_dropped_records_total")?.get();
  assert.equal(dropped?.values.find((v) => v.labels.stream === "bounded")?.value, 2, "drops are exported");
  assert.equal(p.stats().queuedBytes, 20);
  await p.close();
  assert.equal(p.stats().appended, 2);
  await assert.rejects(p.append([r("x")]), /append after close/);
});
