// NATS-only failures. The shared local nats-server cannot be stopped or made to lose replies by a test,
// so the adapter's connection runs through a TCP relay on 127.0.0.1 (test/integration/tcp-relay.ts), a
// fault injector: cutting it is exactly a server or network that went away, muting it is replies lost
// in the network while the server did the work.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { type StreamConnectionEvent, streamConnectionChannel } from "../../../src/stream/diagnostics.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { StoredRecord, StreamLog } from "../../../src/stream/types.ts";
import { relay } from "../tcp-relay.ts";
import { readAll, rec, seqOf, uniqueStream } from "./conformance.ts";
import { freshStreams, type SilentBroker, silentFailureTests } from "./silent.ts";

const SERVER = "nats://127.0.0.1:4222";
const cleanup: string[] = [];
let direct: StreamLog | undefined;
const directLog = async () => {
  direct ??= await openStreamLog(SERVER);
  return direct;
};
after(async () => {
  const log = await directLog();
  for (const s of cleanup) await log.deleteStream(s).catch(() => {});
  await log.close();
});

const range = (from: number, to: number, key = (i: number) => `k${i % 4}`) =>
  Array.from({ length: to - from }, (_, i) => rec(key(from + i), from + i, 50));

test("records sent again after a lost connection are stored once: JetStream drops the copies by Nats-Msg-Id", async () => {
  const net = await relay(4222);
  const stream = uniqueStream("dedup");
  cleanup.push(stream);
  const events: StreamConnectionEvent[] = [];
  const onEvent = (e: unknown) => events.push(e as StreamConnectionEvent);
  streamConnectionChannel.subscribe(onEvent);
  const log = await openStreamLog(
    `nats://127.0.0.1:${net.port}?reconnect=30s&backoff_min=50ms&backoff_max=200ms&name=dedup-test`,
  );
  try {
    const producer = await log.producer(stream, { policy: "block", maxBatch: 1000 });
    await producer.append(range(0, 100));
    // From here the server's replies are lost: it stores the next 300 records, their acks never arrive.
    net.mute();
    const unacknowledged = producer.append(range(100, 400));
    const server = await directLog();
    while ((await server.info(stream)).partitions[0]?.head !== 399)
      await new Promise((r) => setTimeout(r, 20));
    // The connection drops: the adapter reconnects and publishes the 300 records again.
    net.cut();
    assert.deepEqual(await unacknowledged, { accepted: 300, dropped: 0 });
    await producer.append(range(400, 500));

    const lost = events.find((e) => e.event === "lost");
    const back = events.find((e) => e.event === "reconnected");
    assert.equal(
      lost?.event === "lost" && lost.unconfirmed,
      300,
      "300 records were unacknowledged at the loss",
    );
    assert.equal(back?.event === "reconnected" && back.resent, 300, "and were sent again");
    // Every record once, in order, at dense offsets: the copies were not stored.
    const got = await readAll(server, stream, 500);
    assert.equal(got.length, 500);
    assert.deepEqual(
      got.map((r) => [r.offset, seqOf(r)]),
      Array.from({ length: 500 }, (_, i) => [i, i]),
    );
    assert.equal(new Set(got.map((r) => r.id)).size, 500, "every record id once");
    assert.deepEqual((await server.info(stream)).partitions, [{ partition: 0, first: 0, head: 499 }]);
    assert.equal(producer.stats().appended, 500);
  } finally {
    streamConnectionChannel.unsubscribe(onEvent);
    await log.close();
    net.close();
  }
});

test("the server away past the reconnect budget: append, read and commit fail with STREAM_BROKER_LOST naming the server, stream and checkpoint; the commit stays", async () => {
  const net = await relay(4222);
  const stream = uniqueStream("lost");
  cleanup.push(stream);
  const log = await openStreamLog(
    `nats://127.0.0.1:${net.port}?reconnect=1s&backoff_min=100ms&backoff_max=200ms`,
  );
  try {
    const producer = await log.producer(stream);
    await producer.append(range(0, 100));
    const consumer = await log.consumer(stream, "g");
    const read: StoredRecord[] = [];
    while (read.length < 50) read.push(...(await consumer.read({ max: 50 - read.length, waitMs: 2000 })));
    await consumer.commit(49);
    // The server is gone from the network: connections drop and new ones are refused.
    net.down();

    const broker = new RegExp(`127\\.0\\.0\\.1:${net.port}`);
    await assert.rejects(producer.append(range(100, 110)), (e: unknown) => {
      assert.ok(isSluiceError(e), String(e));
      assert.equal(e.code, "STREAM_BROKER_LOST");
      assert.match(e.message, broker);
      assert.match(e.message, /NATS/);
      assert.match(e.message, /could not reconnect within 1s/);
      assert.match(e.message, new RegExp(`100 records of stream '${stream}' acknowledged`));
      assert.match(e.hint ?? "", /restart/);
      return true;
    });
    await assert.rejects(consumer.read({ max: 10, waitMs: 100 }), (e: unknown) => {
      assert.ok(isSluiceError(e), String(e));
      assert.equal(e.code, "STREAM_BROKER_LOST");
      assert.match(e.message, new RegExp(`reading stream '${stream}' at offset 50`));
      assert.match(e.hint ?? "", /\(g=49\).*resumes at committed \+ 1/);
      return true;
    });
    await assert.rejects(consumer.commit(99), (e: unknown) => {
      assert.ok(isSluiceError(e), String(e));
      assert.equal(e.code, "STREAM_BROKER_LOST");
      assert.match(e.message, /could not commit offset 99 of group 'g'/);
      assert.match(e.hint ?? "", /stays 49/);
      return true;
    });
  } finally {
    await log.close();
    net.close();
  }
  // Nothing was committed past what was processed, and every acknowledged record is there.
  const info = await (await directLog()).info(stream);
  assert.deepEqual(info.groups, [{ group: "g", committed: 49, lag: 50 }]);
  assert.deepEqual(info.partitions, [{ partition: 0, first: 0, head: 99 }]);
});

test("a consumer group reads on across cut connections without a gap or a repeat; a waiting read gets what was appended meanwhile", async () => {
  const net = await relay(4222);
  const stream = uniqueStream("reader");
  cleanup.push(stream);
  const server = await directLog();
  const producer = await server.producer(stream);
  await producer.append(range(0, 300));
  const events: StreamConnectionEvent[] = [];
  const onEvent = (e: unknown) => events.push(e as StreamConnectionEvent);
  streamConnectionChannel.subscribe(onEvent);
  const log = await openStreamLog(
    `nats://127.0.0.1:${net.port}?reconnect=30s&backoff_min=50ms&backoff_max=200ms&name=reader-test`,
  );
  try {
    const consumer = await log.consumer(stream, "g");
    const seen: number[] = [];
    while (seen.length < 300) {
      for (const r of await consumer.read({ max: 40, waitMs: 2000 })) seen.push(r.offset);
      // Cut between reads, twice; the second time after a commit.
      const cuts = events.filter((e) => e.event === "lost").length;
      if ((seen.length >= 100 && cuts === 0) || (seen.length >= 200 && cuts === 1)) {
        if (cuts === 1) await consumer.commit(seen.at(-1)!);
        net.cut();
        while (events.filter((e) => e.event === "lost").length === cuts)
          await new Promise((r) => setImmediate(r));
      }
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 300 }, (_, i) => i),
    );
    // Caught up, waiting: the connection is cut and records are appended meanwhile (by another connection).
    const waiting = consumer.read({ max: 10, waitMs: 30_000 });
    net.cut();
    await producer.append(range(300, 305));
    assert.deepEqual(
      (await waiting).map((r) => r.offset),
      [300, 301, 302, 303, 304],
    );
    await consumer.commit(304);
    assert.equal(events.filter((e) => e.event === "reconnected").length >= 2, true);
  } finally {
    streamConnectionChannel.unsubscribe(onEvent);
    await log.close();
    net.close();
  }
  assert.deepEqual((await server.info(stream)).groups, [{ group: "g", committed: 304, lag: 0 }]);
});

// Silent failures (silent.ts): two pings (one a heartbeat) unanswered and nats.js closes the connection.
const silentNats: SilentBroker = {
  server: "NATS",
  port: 4222,
  url: (port, query) => `nats://127.0.0.1:${port}?${query}`,
  direct: directLog,
  stream: freshStreams(cleanup),
};

silentFailureTests(silentNats);
