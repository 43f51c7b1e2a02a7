// Redis-only behaviour against the local Redis: what a write acknowledged by this server means, WAIT
// for replicas, retention by age, the CLI, and two network faults. The shared Redis cannot be stopped
// or made to lose a reply by a test, so those connections run through a TCP relay on 127.0.0.1 that
// the test controls (tcp-relay.ts, a fault injector): cut, it is a server gone from the network;
// muted, it passes requests to Redis and swallows the replies.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { isSluiceError } from "../../../src/core/errors.ts";
import type { StreamConnectionEvent } from "../../../src/stream/diagnostics.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { StoredRecord, StreamLog } from "../../../src/stream/types.ts";
import { relay } from "../tcp-relay.ts";
import { readAll, rec, seqOf } from "./conformance.ts";
import { REDIS, testPrefix } from "./redis-keys.ts";
import {
  appendUntilFailure,
  checkRetentionByAge,
  cliRoundTrip,
  sluiceStream,
  tailFollowUntilServerGone,
} from "./shared.ts";
import { type SilentBroker, silentFailureTests } from "./silent.ts";

const prefix = testPrefix("faults");
const direct = `${REDIS}?prefix=${prefix}`;

/** Collects the stream log's connection events while `fn` runs. */
async function withEvents<T>(fn: (events: StreamConnectionEvent[]) => Promise<T>): Promise<T> {
  const events: StreamConnectionEvent[] = [];
  const on = (m: unknown) => events.push(m as StreamConnectionEvent);
  subscribe("sluice:stream:connection", on);
  try {
    return await fn(events);
  } finally {
    unsubscribe("sluice:stream:connection", on);
  }
}

test("opening says what an acknowledged write survives on this server (here: nothing, no persistence)", async () => {
  await withEvents(async (events) => {
    const log = await openStreamLog(direct);
    await log.close();
    const d = events.find((e) => e.event === "durability");
    assert.ok(d && d.event === "durability", "a durability event at open");
    assert.equal(d.system, "Redis");
    // The local Redis runs with --save "" --appendonly no (scripts/run.sh).
    assert.equal(d.survives, "nothing-certain");
    assert.match(d.detail, /appendonly no/);
    assert.match(d.detail, /restart or crash of Redis loses the whole log/);
  });
});

test("?wait=1 without a replica: the append is refused with how many replicas acknowledged it", async () => {
  const log = await openStreamLog(`${direct}&wait=1&wait_timeout=50ms`);
  try {
    const p = await log.producer("waited");
    await assert.rejects(p.append([rec("k", 0)]), (e: unknown) => {
      assert.ok(isSluiceError(e));
      assert.equal(e.code, "STREAM_APPEND_FAILED");
      assert.match(e.message, /offsets 0\.\.0 is on the Redis primary .*only 0 of 1 replicas acknowledged/);
      assert.match(e.hint ?? "", /INFO replication/);
      return true;
    });
  } finally {
    await log.close();
  }
});

test("a Redis out of memory refuses an append whole: STREAM_APPEND_FAILED saying so, and no batch is in the stream in part", async () => {
  // A Redis of the test's own (not the shared one) with a 2 MiB memory limit and no eviction.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const server = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxmemory",
      "2mb",
      "--maxmemory-policy",
      "noeviction",
    ],
    { stdio: "ignore" },
  );
  try {
    let log: Awaited<ReturnType<typeof openStreamLog>> | undefined;
    for (let i = 0; i < 100 && !log; i++)
      log = await openStreamLog(`redis://127.0.0.1:${port}/oom`).catch(async () => {
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    assert.ok(log, "the test's own Redis started");
    const p = await log.producer("oom", { maxBatch: 100 });
    let failure: unknown;
    let acked = 0;
    try {
      for (;;) {
        await p.append(Array.from({ length: 100 }, (_, i) => rec("k", acked + i, 1000)));
        acked += 100;
      }
    } catch (e) {
      failure = e;
    }
    assert.ok(isSluiceError(failure), String(failure));
    assert.equal(failure.code, "STREAM_APPEND_FAILED");
    assert.match(failure.message, /OOM/);
    assert.match(failure.hint ?? "", /out of memory .*nothing of the batch was written/);
    const info = await log.info("oom");
    assert.deepEqual(
      info.partitions,
      [{ partition: 0, first: 0, head: acked - 1 }],
      "only whole acknowledged batches",
    );
    await log.close();
  } finally {
    server.kill("SIGTERM");
  }
});

test("retention by age removes what was appended before the limit, keeping offsets", () =>
  // The append script looks at the age of the oldest records at most once a second.
  checkRetentionByAge(direct));

test("a batch whose reply was lost is sent again after the reconnect and written once", async () => {
  const r = await relay(6379);
  const stream = "lost-reply";
  const check = await openStreamLog(direct);
  try {
    await withEvents(async (events) => {
      const log = await openStreamLog(
        `${r.url(REDIS)}?prefix=${prefix}&reconnect=30s&backoff_min=50ms&backoff_max=200ms`,
      );
      const p = await log.producer(stream);
      await p.append([rec("a", 0), rec("a", 1)]);
      r.mute();
      const batch = Array.from({ length: 10 }, (_, i) => rec(`k${i % 3}`, 2 + i));
      const pending = p.append(batch);
      // Redis has run the append script: the records are there, the reply never reached the client.
      while ((await check.info(stream)).partitions[0]?.head !== 11)
        await new Promise((res) => setTimeout(res, 10));
      r.cut(); // the connection drops; the client reconnects (through the relay, passing again) and re-sends
      assert.deepEqual(await pending, { accepted: 10, dropped: 0 });
      await p.append([rec("a", 12)]);
      await log.close();
      const lost = events.find((e) => e.event === "lost");
      assert.ok(
        lost && lost.event === "lost" && lost.unconfirmed === 10,
        "10 records were unacknowledged at the loss",
      );
      const back = events.find((e) => e.event === "reconnected");
      assert.ok(
        back && back.event === "reconnected" && back.resent === 10,
        "and sent again after the reconnect",
      );
    });
    const got = await readAll(check, stream, 13);
    assert.deepEqual(
      got.map((x) => [x.offset, seqOf(x)]),
      Array.from({ length: 13 }, (_, i) => [i, i]),
      "every record once, offsets dense",
    );
  } finally {
    await check.deleteStream(stream);
    await check.close();
    r.close();
  }
});

test("across two network cuts: a consumer sees every offset once, in order; a drop producer loses nothing it accepted", async () => {
  const r = await relay(6379);
  const stream = "cuts";
  const events: StreamConnectionEvent[] = [];
  const onEvent = (m: unknown) => events.push(m as StreamConnectionEvent);
  subscribe("sluice:stream:connection", onEvent);
  const log = await openStreamLog(
    `${r.url(REDIS)}?prefix=${prefix}&reconnect=30s&backoff_min=50ms&backoff_max=200ms`,
  );
  try {
    const producer = await log.producer(stream, { policy: "drop", maxQueuedRecords: 100_000 });
    const consumer = await log.consumer(stream, "g");
    let accepted = 0;
    let dropped = 0;
    const seen: number[] = [];
    const total = 3000;
    for (let i = 0; i < total; i += 100) {
      const res = await producer.append(Array.from({ length: 100 }, (_, j) => rec(`k${j % 4}`, i + j)));
      accepted += res.accepted;
      dropped += res.dropped;
      if (i === 1000 || i === 2000) r.cut(); // every connection of the log drops; reconnecting passes
      const got = await consumer.read({ max: 500, waitMs: 50 });
      seen.push(...got.map((x) => x.offset));
      if (got.length > 0) await consumer.commit(got.at(-1)!.offset);
    }
    await producer.flush();
    assert.equal(accepted + dropped, total);
    assert.equal(producer.stats().failed, 0);
    assert.equal(producer.stats().appended, accepted);
    while (seen.length < accepted) {
      const got = await consumer.read({ max: 1000, waitMs: 2000 });
      assert.ok(got.length > 0, `stalled at ${seen.length} of ${accepted}`);
      seen.push(...got.map((x) => x.offset));
      await consumer.commit(got.at(-1)!.offset);
    }
    assert.deepEqual(
      seen,
      Array.from({ length: accepted }, (_, i) => i),
      "every offset once, in order",
    );
    const stored = (await readAll(log, stream, accepted)).map(seqOf);
    assert.deepEqual(
      stored,
      [...stored].sort((a, b) => a - b),
      "what was accepted is stored in order, once",
    );
    assert.equal(stored.length, accepted);
    assert.equal((await log.info(stream)).groups[0]?.committed, accepted - 1);
    assert.deepEqual(
      events.filter((e) => e.event === "lost" || e.event === "reconnected").map((e) => e.event),
      ["lost", "reconnected", "lost", "reconnected"],
      "the log's connection was lost twice and came back",
    );
  } finally {
    unsubscribe("sluice:stream:connection", onEvent);
    await log.deleteStream(stream);
    await log.close();
    r.close();
  }
});

test("Redis away past the reconnect budget: appends, reads and commits fail with STREAM_BROKER_LOST and the checkpoint; the committed offset stays", async () => {
  const r = await relay(6379);
  const stream = "gone";
  const log = await openStreamLog(
    `${r.url(REDIS)}?prefix=${prefix}&reconnect=1s&backoff_min=100ms&backoff_max=200ms`,
  );
  const producer = await log.producer(stream, { policy: "block", maxBatch: 50 });
  const consumer = await log.consumer(stream, "g");
  const acked: number[] = [];
  const writing = appendUntilFailure(producer, acked, 100);
  const read: StoredRecord[] = [];
  while (read.length < 200) read.push(...(await consumer.read({ max: 200 - read.length, waitMs: 1000 })));
  await consumer.commit(199);
  while (acked.length < 500) await new Promise((res) => setTimeout(res, 5));
  r.down(); // gone from the network: every reconnect attempt is refused until the 1 s budget is spent
  const failure = await writing;

  assert.ok(isSluiceError(failure), `a SluiceError, got ${String(failure)}`);
  assert.equal(failure.code, "STREAM_BROKER_LOST");
  assert.match(failure.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${r.port}`));
  assert.match(failure.message, new RegExp(`stream '${stream}'`));
  assert.match(
    failure.message,
    new RegExp(`${acked.length} records .* acknowledged .*the last at offset ${acked.length - 1}`),
  );
  assert.match(failure.hint ?? "", /restart the stage from its checkpoint/);
  await assert.rejects(consumer.read({ max: 10, waitMs: 100 }), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_BROKER_LOST");
    assert.match(e.message, /reading stream 'gone' at offset 200/);
    assert.match(e.hint ?? "", /committed offset \(g=199\)/);
    return true;
  });
  await assert.rejects(consumer.commit(299), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_BROKER_LOST");
    assert.match(e.hint ?? "", /committed offset stays 199/);
    return true;
  });
  assert.equal(producer.stats().appended, acked.length);
  await log.close();
  r.close();

  const check = await openStreamLog(direct);
  try {
    const info = await check.info(stream);
    assert.deepEqual(
      info.groups.map((g) => [g.group, g.committed]),
      [["g", 199]],
      "the committed offset is intact",
    );
    const got = (await readAll(check, stream, acked.length)).map(seqOf);
    assert.deepEqual(got.slice(0, acked.length), acked, "every acknowledged record is there, in order");
    // Only the batch in flight at the cut may be there beyond them (Redis may have run it): whole or not at all.
    assert.ok(got.length === acked.length || got.length === acked.length + 50);
  } finally {
    await check.deleteStream(stream);
    await check.close();
  }
});

test("sluice stream append, tail --group, info and delete work on redis://", () => {
  const url = `${REDIS}/cli-s1?prefix=${prefix}`;
  const appendStderr = cliRoundTrip(url);
  assert.match(
    appendStderr,
    /Redis at 127\.0\.0\.1:6379 .*appendonly no/,
    "warns what an acknowledged write means",
  );
  const d = sluiceStream(["delete", url]);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(JSON.parse(sluiceStream(["info", url, "--json"]).stdout).streams[0]?.exists, false);
});

test("`sluice stream tail -f --group` on redis:// exits 1 when Redis stays away, its commit intact", async () => {
  const net = await relay(6379);
  const stream = "cli-gone";
  const writer = await openStreamLog(direct);
  try {
    await tailFollowUntilServerGone({
      writer,
      stream,
      url: `${net.url(REDIS)}/${stream}?prefix=${prefix}&backoff_min=100ms&backoff_max=200ms&reconnect=1s`,
      net,
      server: "Redis",
    });
  } finally {
    await writer.deleteStream(stream);
    await writer.close();
  }
});

// Silent failures (silent.ts): Redis has no heartbeat of its own; the adapter's liveness check
// (redis-connection.ts) notices a connection that owes replies and hears nothing.
let silentDirect: StreamLog | undefined;
after(async () => {
  await silentDirect?.close();
});
const silentRedis: SilentBroker = {
  server: "Redis",
  port: 6379,
  url: (port, query) => `redis://127.0.0.1:${port}?prefix=${prefix}&${query}`,
  direct: async () => {
    silentDirect ??= await openStreamLog(direct);
    return silentDirect;
  },
  stream: (name) => name,
};

const admin = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true });
after(() => admin.disconnect());
silentFailureTests(silentRedis, async (name) => {
  // The reader's own connection, blocked in XREAD (CLIENT LIST: cmd=xread, flags=b).
  const clients = (await admin.client("LIST")) as string;
  return clients
    .split("\n")
    .some((c) => c.includes(` name=${name} `) && / cmd=xread/.test(c) && / flags=b/.test(c));
});
