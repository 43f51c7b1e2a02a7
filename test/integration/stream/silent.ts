// Silent network failures, the same three checks for every broker adapter. The broker connection runs
// through a TCP relay of the test's own (tcp-relay.ts, a fault injector): `mute` discards what the
// server sends while the TCP connection stays up, no FIN, no reset (a host gone from the network, a
// firewall or NAT that dropped the connection's state, a hung server); only the adapter's heartbeat
// can notice. Each URL sets `?heartbeat=1s`. How long the adapter took to notice is printed as a
// diagnostic (`# ... noticed after`), never asserted.
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { type StreamConnectionEvent, streamConnectionChannel } from "../../../src/stream/diagnostics.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { StoredRecord, StreamLog } from "../../../src/stream/types.ts";
import { relay } from "../tcp-relay.ts";
import { waitFor } from "../wait.ts";
import { readAll, rec, seqOf, uniqueStream } from "./conformance.ts";

export interface SilentBroker {
  /** As messages name it: RabbitMQ, NATS, Redis. */
  server: string;
  /** The real server's port, which the relay forwards to. */
  port: number;
  /** The URL through the relay's port `port` with the query `query` (no stream in the path). */
  url: (port: number, query: string) => string;
  /** A log straight to the server (not through the relay), for appends and checks. */
  direct: () => Promise<StreamLog>;
  /** A fresh stream name, removed after the file's tests (see `freshStreams`). */
  stream: (prefix: string) => string;
  /**
   * RabbitMQ over AMQP 0-9-1 has no publisher deduplication: a record re-sent after a lost confirm may
   * be stored twice (readers hand it out once). The others store it once.
   */
  mayStoreCopies?: boolean;
}

/** Unique stream names, each pushed to `cleanup` for the file to delete afterwards. */
export const freshStreams = (cleanup: string[]) => (prefix: string) => {
  const s = uniqueStream(prefix);
  cleanup.push(s);
  return s;
};

/**
 * The three silent-failure tests for broker `b`. `blocked`, when the adapter can tell, says whether
 * the waiting consumer is blocked on the server (so the mute comes while it waits there).
 */
export function silentFailureTests(
  b: SilentBroker,
  blocked?: (connectionName: string) => Promise<boolean>,
): void {
  test(`${b.server}: a silent connection (no FIN, no reset) under an append in flight is noticed and reconnected; the append completes and every record is ${b.mayStoreCopies ? "read" : "stored"} once`, (t) =>
    mutedUnderAppend(b, t));
  test(`${b.server}: a consumer waiting on a silent connection reconnects and gets the records appended meanwhile`, (t) =>
    mutedUnderWaitingReader(b, t, blocked));
  test(`${b.server}: silent and unreachable past the reconnect budget: STREAM_BROKER_LOST naming the server`, (t) =>
    mutedPastBudget(b, t));
}

/** Quick reconnects: the relay passes new connections at once. */
const FAST = "heartbeat=1s&backoff_min=50ms&backoff_max=200ms";

/** The connection events of the broker at `127.0.0.1:port`, each with when it came. */
function recordEvents(port: number) {
  const events: (StreamConnectionEvent & { at: number })[] = [];
  const on = (m: unknown) => {
    const e = m as StreamConnectionEvent;
    if (e.broker === `127.0.0.1:${port}`) events.push({ ...e, at: Date.now() });
  };
  streamConnectionChannel.subscribe(on);
  return {
    events,
    first: (name: StreamConnectionEvent["event"]) => events.find((e) => e.event === name),
    stop: () => streamConnectionChannel.unsubscribe(on),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * (a) The relay is muted under a producer with an append in flight: the adapter notices, reconnects
 * (the relay passes new connections), the append completes, and every record is in the stream once.
 */
export async function mutedUnderAppend(b: SilentBroker, t: TestContext): Promise<void> {
  const net = await relay(b.port);
  const stream = b.stream("silent-append");
  const ev = recordEvents(net.port);
  const log = await openStreamLog(b.url(net.port, `${FAST}&reconnect=30s`));
  try {
    const producer = await log.producer(stream, { policy: "block", maxBatch: 1000 });
    await producer.append(Array.from({ length: 10 }, (_, i) => rec(`k${i % 3}`, i)));
    net.mute();
    const mutedAt = Date.now();
    // Sent after the mute: the server stores the batch, its acknowledgement never arrives.
    const pending = producer.append(Array.from({ length: 100 }, (_, i) => rec(`k${i % 3}`, 10 + i)));
    assert.deepEqual(await pending, { accepted: 100, dropped: 0 });
    await producer.append([rec("k0", 110)]);

    const lost = ev.first("lost");
    assert.ok(lost && lost.event === "lost", "the silent connection was taken as lost");
    assert.ok(ev.first("reconnected"), "and reconnected");
    t.diagnostic(
      `${b.server}: a muted connection with an append in flight noticed after ${seconds(lost.at - mutedAt)} (heartbeat 1 s): ${lost.reason}`,
    );

    const direct = await b.direct();
    const got = await readAll(direct, stream, 111);
    assert.deepEqual(
      got.map(seqOf),
      Array.from({ length: 111 }, (_, i) => i),
      "every record once, in order",
    );
    const head = (await direct.info(stream)).partitions[0]?.head;
    if (b.mayStoreCopies) {
      assert.ok(head !== undefined && head >= 110 && head <= 210, "at most the in-flight batch stored twice");
      t.diagnostic(`${b.server}: ${head - 110} re-sent copies stored (handed out once)`);
    } else {
      assert.equal(head, 110, "stored once: the re-sent batch was recognised");
      assert.deepEqual(
        got.map((r) => r.offset),
        Array.from({ length: 111 }, (_, i) => i),
        "offsets dense",
      );
    }
  } finally {
    ev.stop();
    await log.close();
    net.close();
  }
}

/**
 * (b) A consumer waiting for records when its connection goes silent: it reconnects and gets the
 * records appended (by another connection) after the mute.
 */
export async function mutedUnderWaitingReader(
  b: SilentBroker,
  t: TestContext,
  /** Whether the consumer (connection name given) is blocked waiting on the server, when the adapter can tell. */
  blocked?: (connectionName: string) => Promise<boolean>,
): Promise<void> {
  const net = await relay(b.port);
  const stream = b.stream("silent-read");
  const direct = await b.direct();
  const producer = await direct.producer(stream);
  await producer.append(Array.from({ length: 5 }, (_, i) => rec("k", i)));
  const ev = recordEvents(net.port);
  const name = `silent-reader-${net.port}`;
  const log = await openStreamLog(b.url(net.port, `${FAST}&reconnect=30s&name=${name}`));
  try {
    const consumer = await log.consumer(stream, "g", { start: "earliest" });
    const seen: StoredRecord[] = [];
    while (seen.length < 5) seen.push(...(await consumer.read({ max: 5, waitMs: 2000 })));
    await consumer.commit(4);
    // Caught up: the next read waits on the server.
    const waiting = consumer.read({ max: 10, waitMs: 120_000 });
    if (blocked) await waitFor("the consumer blocked waiting for records", () => blocked(name));
    net.mute();
    const mutedAt = Date.now();
    await producer.append(Array.from({ length: 5 }, (_, i) => rec("k", 5 + i)));
    const got = await waiting;
    const gotAt = Date.now();
    assert.deepEqual(
      got.map((r) => seqOf(r)),
      [5, 6, 7, 8, 9],
      "the records appended after the mute, read on the new connection",
    );
    await consumer.commit(9);
    const lost = ev.first("lost");
    t.diagnostic(
      `${b.server}: a waiting consumer on a muted connection got the new records ${seconds(gotAt - mutedAt)} after the mute${
        lost ? ` (the log's connection was taken as lost after ${seconds(lost.at - mutedAt)})` : ""
      }`,
    );
    assert.deepEqual(
      (await direct.info(stream)).groups.map((g) => [g.group, g.committed]),
      [["g", 9]],
    );
  } finally {
    ev.stop();
    await log.close();
    net.close();
  }
}

/**
 * (c) Muted, and new connections refused, for longer than the reconnect budget: the append in flight
 * fails with STREAM_BROKER_LOST naming the broker.
 */
export async function mutedPastBudget(b: SilentBroker, t: TestContext): Promise<void> {
  const net = await relay(b.port);
  const stream = b.stream("silent-gone");
  const log = await openStreamLog(b.url(net.port, `${FAST}&reconnect=1s`));
  const ev = recordEvents(net.port);
  try {
    const producer = await log.producer(stream, { policy: "block" });
    await producer.append([rec("k", 0)]);
    // Gone without a word: the open connection stays up but silent, and reconnecting is refused.
    net.mute();
    net.refuse();
    const mutedAt = Date.now();
    await assert.rejects(producer.append([rec("k", 1)]), (e: unknown) => {
      assert.ok(isSluiceError(e), String(e));
      assert.equal(e.code, "STREAM_BROKER_LOST");
      assert.match(e.message, new RegExp(`${b.server} at 127\\.0\\.0\\.1:${net.port}`));
      assert.match(e.message, /could not reconnect within 1s/);
      return true;
    });
    const lost = ev.first("lost");
    t.diagnostic(
      `${b.server}: muted and refusing: lost after ${lost ? seconds(lost.at - mutedAt) : "?"}, STREAM_BROKER_LOST after ${seconds(Date.now() - mutedAt)} (heartbeat 1 s, budget 1 s)`,
    );
  } finally {
    ev.stop();
    await log.close();
    net.close();
  }
}
