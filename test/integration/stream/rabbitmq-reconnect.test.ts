// The RabbitMQ adapter surviving a broker that goes away. The local broker is shared, so the tests
// never stop it; they make it go away for their own connections only, two ways:
// - `rabbitmqctl close_connection` on the connections carrying the test's own connection name
//   (`?name=` in the URL): to the client this is a broker that closed the connection (as on a restart);
// - a TCP relay of the test's own between the client and the broker, cut and later restored: a fault
//   injector for a network failure (a broker that vanished, then a broker that refuses connections).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { isSluiceError } from "../../../src/core/errors.ts";
import { localBroker } from "../../../src/sandbox/index.ts";
import { type StreamConnectionEvent, streamConnectionChannel } from "../../../src/stream/diagnostics.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { StoredRecord, StreamLog, StreamRecord } from "../../../src/stream/types.ts";
import { relay } from "../tcp-relay.ts";
import { rec, seqOf, uniqueStream } from "./conformance.ts";
import { tailFollowUntilServerGone } from "./shared.ts";

const run = promisify(execFile);
const broker = await localBroker("rabbitmq");
const brokerUrl = new URL(broker.url);
const BROKER = `amqp://${brokerUrl.username}:${brokerUrl.password}@${broker.host}:${broker.port}`;
/** Reconnect quickly in tests; the budget stays well above the time a forced close takes to heal. */
const FAST = "backoff_min=100ms&backoff_max=500ms&reconnect=60s";

/** The adapter's connection events, to check that a test's cuts really made it reconnect. */
const events: StreamConnectionEvent[] = [];
const onEvent = (e: unknown) => events.push(e as StreamConnectionEvent);
streamConnectionChannel.subscribe(onEvent);
const reconnects = (urlPart: string) =>
  events.filter((e) => e.event === "reconnected" && e.url.includes(urlPart)) as Extract<
    StreamConnectionEvent,
    { event: "reconnected" }
  >[];

const cleanup: string[] = [];
after(async () => {
  streamConnectionChannel.unsubscribe(onEvent);
  const log = await openStreamLog(BROKER);
  for (const s of cleanup) await log.deleteStream(s).catch(() => {});
  await log.close();
});

const fresh = (prefix: string) => {
  const s = uniqueStream(prefix);
  cleanup.push(s);
  return s;
};

/** Closes, on the broker, every connection whose client-provided name is `name`; returns how many. */
async function closeConnectionsNamed(name: string): Promise<number> {
  const { stdout } = await run("rabbitmqctl", [
    "list_connections",
    "-q",
    "--no-table-headers",
    "pid",
    "client_properties",
  ]);
  const pids = stdout
    .split("\n")
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split("\t")[0]!);
  for (const pid of pids) await run("rabbitmqctl", ["close_connection", pid, "sluice test: broker gone"]);
  return pids.length;
}

/** Waits until `check` holds, polling (no timing in assertions: the test timeout bounds it). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

/** Everything in the stream read by one consumer session (which drops re-sent copies). */
async function consumeAll(
  log: StreamLog,
  stream: string,
  group: string,
  count: number,
): Promise<StoredRecord[]> {
  const c = await log.consumer(stream, group, { start: "earliest" });
  const out: StoredRecord[] = [];
  let idle = 0;
  while (out.length < count && idle < 10) {
    const recs = await c.read({ max: 5000, waitMs: 500 });
    idle = recs.length === 0 ? idle + 1 : 0;
    out.push(...recs);
  }
  await c.close();
  return out;
}

/** The stream read in chunks, each by a new reader (`log.read`), until nothing new comes. */
async function readChunks(log: StreamLog, stream: string, atLeast: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let next = 0;
  let idle = 0;
  while (idle < 5) {
    const recs = await log.read(stream, next, { max: 5000, waitMs: 300 });
    idle = recs.length === 0 || out.length >= atLeast ? idle + 1 : 0;
    out.push(...recs);
    if (recs.length > 0) next = recs.at(-1)!.offset + 1;
  }
  return out;
}

test("a blocking producer whose connection is closed twice by the broker loses nothing it was told is durable", async (t) => {
  const name = `sluice-test-producer-${process.pid}-${Date.now()}`;
  const stream = fresh("reconnect-block");
  const log = await openStreamLog(`${BROKER}?${FAST}&name=${name}`);
  const producer = await log.producer(stream, { policy: "block", maxBatch: 100 });
  const keys = 4;
  const acked = new Set<number>();
  let next = 0;
  let cutsDone = false;
  // Four callers append concurrently, 50 records a call, until both closes are done and the producer
  // has reconnected after them; every call must succeed across the closes.
  const callers = Array.from({ length: keys }, async (_, k) => {
    while (!cutsDone) {
      const batch: StreamRecord[] = [];
      for (let i = 0; i < 50; i++) batch.push(rec(`k${k}`, next++, 100));
      await producer.append(batch);
      for (const r of batch) acked.add(JSON.parse(Buffer.from(r.value).toString()).seq as number);
    }
  });
  const cuts = (async () => {
    for (const [i, at] of [1500, 4000].entries()) {
      await until(() => acked.size >= at);
      assert.ok((await closeConnectionsNamed(name)) >= 1, "the producer's connection was found and closed");
      await until(() => reconnects(name).length === i + 1);
      // Appends go on after the reconnect before the next close (or the end).
      const resumedAt = acked.size;
      await until(() => acked.size >= resumedAt + 500);
    }
    cutsDone = true;
  })();
  await Promise.all([...callers, cuts]);
  const total = next;
  t.diagnostic(
    `${total} records; sent again after the reconnects: ${reconnects(name)
      .map((e) => e.resent)
      .join(", ")}`,
  );
  assert.equal(acked.size, total);
  const stats = producer.stats();
  assert.equal(stats.appended, total);
  assert.equal(stats.failed, 0);
  await log.close();

  const reader = await openStreamLog(BROKER);
  // The stream: every record is there. A reader skips a re-sent copy whose original it handed out, so
  // where the offsets it hands out jump, the offset skipped holds a copy: read it alone (a reader that
  // starts there has seen no original) and check that it repeats an earlier record, with the same id.
  const read = await readChunks(reader, stream, total);
  const idOf = new Map<number, string>();
  let copies = 0;
  for (const r of read) {
    assert.ok(r.id, "every record carries its producer id");
    const original = idOf.get(seqOf(r));
    // A copy right at the start of a chunk: its reader had not seen the original.
    if (original !== undefined) {
      assert.equal(r.id, original, `sequence ${seqOf(r)} twice is a copy with its original's id`);
      copies++;
    }
    idOf.set(seqOf(r), r.id);
  }
  for (let s = 0; s < total; s++) assert.ok(idOf.has(s), `sequence ${s} is in the stream`);
  for (let i = 1; i < read.length; i++) {
    for (let gap = read[i - 1]!.offset + 1; gap < read[i]!.offset; gap++) {
      const [copy] = await reader.read(stream, gap, { max: 1, waitMs: 1000 });
      assert.equal(copy?.offset, gap, `offset ${gap} is in the stream`);
      assert.equal(copy.id, idOf.get(seqOf(copy)), `the copy at ${gap} has its original's id`);
      copies++;
    }
  }
  t.diagnostic(`copies in the stream (sent again, had been written): ${copies}`);
  // A consumer sees each record once, and per-key order holds.
  const got = await consumeAll(reader, stream, "check", total);
  assert.deepEqual(
    got.map(seqOf).sort((a, b) => a - b),
    Array.from({ length: total }, (_, i) => i),
  );
  const byKey = new Map<string, number[]>();
  for (const r of got) byKey.set(r.key, [...(byKey.get(r.key) ?? []), seqOf(r)]);
  for (const [key, seqs] of byKey)
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      `order of ${key}`,
    );
  await reader.close();
});

test("a drop-policy producer across a network cut: what it accepted is written or counted, nothing else", async (t) => {
  const net = await relay(broker.port, { host: broker.host });
  const stream = fresh("reconnect-drop");
  const log = await openStreamLog(`amqp://guest:guest@127.0.0.1:${net.port}?${FAST}`);
  const producer = await log.producer(stream, { policy: "drop", maxQueuedRecords: 500, maxBatch: 50 });
  let accepted = 0;
  let dropped = 0;
  let seq = 0;
  /** A source that never waits for the log: `n` appends, the event loop turning every 50. */
  const burst = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await producer.append([rec("k", seq++, 100)]);
      accepted += r.accepted;
      dropped += r.dropped;
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const where = `127.0.0.1:${net.port}`;
  await burst(1000);
  // Cut with records in flight; the source goes on while the adapter's reconnect attempts fail.
  net.down();
  await burst(1000);
  await until(() => events.some((e) => e.event === "retry" && e.url.includes(where)));
  await burst(1000);
  net.restore();
  await until(() => reconnects(where).length === 1);
  // What waited through the cut is written now; then the source goes on.
  await producer.flush();
  const before = producer.stats().appended;
  await burst(1000);
  const total = seq;
  await producer.flush();
  const stats = producer.stats();
  assert.equal(accepted + dropped, total);
  assert.equal(stats.dropped, dropped, "every refused record is counted");
  assert.equal(stats.failed, 0, "the broker came back within the budget: no write failed");
  assert.equal(stats.appended, accepted);
  assert.ok(stats.appended > before, "appends after the reconnect are written");
  t.diagnostic(`accepted ${accepted}, dropped ${dropped} (the queue holds 500)`);
  await log.close();
  net.close();

  const reader = await openStreamLog(BROKER);
  const got = (await consumeAll(reader, stream, "check", accepted)).map(seqOf);
  assert.equal(got.length, accepted, "exactly the accepted records, once each");
  assert.deepEqual(
    got,
    [...got].sort((a, b) => a - b),
    "in order",
  );
  await reader.close();
});

test("closing while the broker has stopped answering and then the connection drops: every close settles", {
  // A close that never settles is the failure: the runner's timeout reports it.
  timeout: 120_000,
}, async (t) => {
  const net = await relay(broker.port, { host: broker.host });
  t.after(() => net.close());
  const stream = fresh("reconnect-close");
  const log = await openStreamLog(`amqp://guest:guest@127.0.0.1:${net.port}?${FAST}`);
  const p = await log.producer(stream);
  await p.append([rec("k", 0), rec("k", 1)]);
  const c = await log.consumer(stream, "g", { start: "earliest" });
  assert.equal((await c.read({ max: 10, waitMs: 1000 })).length, 2);
  // The broker's answers are lost from now on: the CloseOk of each close never comes back. Then the
  // connection drops, as when a broker restarts in the middle of a shutdown.
  net.mute();
  const closing = Promise.all([c.close(), log.close()]);
  await new Promise((r) => setTimeout(r, 200));
  net.cut();
  await closing;
  // And the log is closed for good: it did not reconnect meanwhile.
  await assert.rejects(
    log.read(stream, 0, { max: 1, waitMs: 0 }),
    (e) => isSluiceError(e) && e.code === "STREAM_CLOSED",
  );
});

test("a consumer group reads on across forced closes without a gap or a repeat, and resumes after its commit", async () => {
  const stream = fresh("reconnect-consume");
  const total = 3000;
  const writer = await openStreamLog(BROKER);
  const p = await writer.producer(stream);
  for (let i = 0; i < total; i += 500) await p.append(Array.from({ length: 500 }, (_, j) => rec("k", i + j)));

  const name = `sluice-test-consumer-${process.pid}-${Date.now()}`;
  const log = await openStreamLog(`${BROKER}?${FAST}&name=${name}`);
  const c = await log.consumer(stream, "g", { prefetch: 200 });
  const offsets: number[] = [];
  let cuts = 0;
  while (offsets.length < 2000) {
    const recs = await c.read({ max: 100, waitMs: 1000 });
    offsets.push(...recs.map((r) => r.offset));
    if (recs.length > 0) await c.commit(recs.at(-1)!.offset);
    // Closed between reads, with records still buffered in the client (they come again, once).
    if ((cuts === 0 && offsets.length >= 700) || (cuts === 1 && offsets.length >= 1400)) {
      assert.ok((await closeConnectionsNamed(name)) >= 1);
      cuts++;
    }
  }
  assert.equal(cuts, 2);
  assert.equal(reconnects(name).length, 2, "reconnected after each close");
  assert.deepEqual(
    offsets,
    Array.from({ length: 2000 }, (_, i) => i),
    "every offset once, in order",
  );
  assert.equal(await c.committed(), 1999);
  // The commit made after a cut is durable: a new member of the group starts right after it.
  await log.close();
  const again = await openStreamLog(BROKER);
  const c2 = await again.consumer(stream, "g");
  assert.equal((await c2.read({ max: 1, waitMs: 2000 }))[0]?.offset, 2000);
  assert.equal(await c2.lag(), total - 1 - 1999);
  await again.close();
  await writer.close();
});

test("an idle consumer whose connection is closed gets what others appended meanwhile, from where it was", async () => {
  const stream = fresh("reconnect-idle");
  const writer = await openStreamLog(BROKER);
  const p = await writer.producer(stream);
  await p.append(Array.from({ length: 100 }, (_, i) => rec("k", i)));
  const name = `sluice-test-idle-${process.pid}-${Date.now()}`;
  const log = await openStreamLog(`${BROKER}?${FAST}&name=${name}`);
  const c = await log.consumer(stream, "g");
  const offsets: number[] = [];
  while (offsets.length < 100)
    offsets.push(...(await c.read({ max: 100, waitMs: 1000 })).map((r) => r.offset));
  await c.commit(99);
  // Waiting for records when the connection goes; the records come from another connection meanwhile.
  const waiting = c.read({ max: 100, waitMs: 30_000 });
  assert.ok((await closeConnectionsNamed(name)) >= 1);
  await p.append(Array.from({ length: 100 }, (_, i) => rec("k", 100 + i)));
  offsets.push(...(await waiting).map((r) => r.offset));
  while (offsets.length < 200)
    offsets.push(...(await c.read({ max: 100, waitMs: 1000 })).map((r) => r.offset));
  assert.deepEqual(
    offsets,
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.equal(reconnects(name).length, 1);
  await log.close();
  await writer.close();
});

test("a consumer at latest that has received nothing yet gets what was appended while it was away, nothing older", async (t) => {
  const net = await relay(broker.port, { host: broker.host });
  const stream = fresh("reconnect-latest");
  const writer = await openStreamLog(BROKER);
  t.after(() => writer.close());
  t.after(() => net.close());
  const p = await writer.producer(stream);
  await p.append(Array.from({ length: 100 }, (_, i) => rec("k", i)));
  // Older than the attach time by more than its clock margin (2 s, in whole seconds).
  await new Promise((r) => setTimeout(r, 4000));
  const log = await openStreamLog(`amqp://guest:guest@127.0.0.1:${net.port}?${FAST}`);
  t.after(() => log.close());
  const c = await log.consumer(stream, "g", { start: "latest" });
  assert.deepEqual(await c.read({ max: 100, waitMs: 500 }), [], "nothing new yet");
  // Away (the network cut, reconnects refused) while another connection appends.
  const where = `127.0.0.1:${net.port}`;
  net.down();
  await p.append(Array.from({ length: 100 }, (_, i) => rec("k", 100 + i)));
  await until(() => events.some((e) => e.event === "retry" && e.url.includes(where)));
  net.restore();
  const got: number[] = [];
  for (let idle = 0; got.length < 100 && idle < 5; ) {
    const recs = await c.read({ max: 100, waitMs: 1000 });
    idle = recs.length === 0 ? idle + 1 : 0;
    got.push(...recs.map((r) => r.offset));
  }
  assert.deepEqual(
    got,
    Array.from({ length: 100 }, (_, i) => 100 + i),
  );
  assert.equal(reconnects(where).length, 1);
});

test("a broker away longer than the budget: errors name the broker, stream and checkpoint; the checkpoint stays", async () => {
  const net = await relay(broker.port, { host: broker.host });
  const stream = fresh("reconnect-gone");
  const url = `amqp://guest:guest@127.0.0.1:${net.port}?backoff_min=100ms&backoff_max=200ms&reconnect=1s`;
  const log = await openStreamLog(url);
  const producer = await log.producer(stream, { policy: "block" });
  await producer.append(Array.from({ length: 100 }, (_, i) => rec("k", i)));
  const consumer = await log.consumer(stream, "g");
  const first = await consumer.read({ max: 60, waitMs: 2000 });
  await consumer.commit(first.at(-1)!.offset);
  const committed = first.at(-1)!.offset;

  net.down();
  await assert.rejects(producer.append([rec("k", 100)]), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_BROKER_LOST");
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${net.port}`));
    assert.match(e.message, /could not reconnect within 1s/);
    assert.match(e.message, new RegExp(`100 records of stream '${stream}' confirmed`));
    assert.equal(e.context.stream, stream);
    assert.match(e.hint ?? "", /restart/);
    assert.doesNotMatch(e.describe(), /guest:guest/);
    return true;
  });
  await assert.rejects(consumer.read({ max: 10, waitMs: 100 }), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_BROKER_LOST");
    assert.equal(e.context.stream, stream);
    assert.equal(e.context.committed, `g=${committed}`);
    assert.match(e.hint ?? "", /committed \+ 1/);
    return true;
  });
  await assert.rejects(
    consumer.commit(99),
    (e: unknown) => isSluiceError(e) && e.code === "STREAM_BROKER_LOST",
  );
  await log.close();
  net.close();

  // The checkpoint is intact: the group resumes right after what it committed.
  const direct = await openStreamLog(BROKER);
  const c2 = await direct.consumer(stream, "g");
  assert.equal(await c2.committed(), committed);
  assert.equal((await c2.read({ max: 1, waitMs: 2000 }))[0]?.offset, committed + 1);
  await direct.close();
});

test("a drop-policy producer whose broker stays away past the budget fails: append throws, what it held is counted", async () => {
  const net = await relay(broker.port, { host: broker.host });
  const stream = fresh("reconnect-drop-gone");
  const log = await openStreamLog(
    `amqp://guest:guest@127.0.0.1:${net.port}?backoff_min=100ms&backoff_max=200ms&reconnect=1s`,
  );
  const producer = await log.producer(stream, { policy: "drop", maxBatch: 10 });
  await producer.append(Array.from({ length: 20 }, (_, i) => rec("k", i)));
  await producer.flush();
  net.down();
  // accepted while the broker is away: held for the reconnect, then failed when the budget is spent
  const held = await producer.append(Array.from({ length: 30 }, (_, i) => rec("k", 20 + i)));
  assert.equal(held.accepted, 30);
  await producer.flush();
  const stats = producer.stats();
  assert.equal(stats.appended, 20);
  assert.equal(stats.failed, 30, "every record accepted after the cut is counted as failed");
  assert.equal(stats.queued, 0);
  await assert.rejects(producer.append([rec("k", 50)]), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_BROKER_LOST");
    assert.match(e.message, /could not reconnect within 1s/);
    return true;
  });
  await log.close();
  net.close();
});

test("`sluice stream tail -f --group` exits non-zero when the broker stays away, its commit intact", async () => {
  const net = await relay(broker.port, { host: broker.host });
  const stream = fresh("reconnect-cli");
  const writer = await openStreamLog(BROKER);
  try {
    await tailFollowUntilServerGone({
      writer,
      stream,
      url: `amqp://guest:guest@127.0.0.1:${net.port}/${stream}?backoff_min=100ms&backoff_max=200ms&reconnect=1s`,
      net,
      server: "RabbitMQ",
    });
  } finally {
    await writer.close();
  }
});
