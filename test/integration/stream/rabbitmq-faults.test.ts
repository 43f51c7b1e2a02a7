// RabbitMQ-only failures: a refused login, and the broker going away mid-stream. The shared local
// broker cannot be stopped by a test, so the connection runs through a TCP relay on 127.0.0.1 that
// the test cuts: to the client this is exactly a broker that vanished.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { StreamLog } from "../../../src/stream/types.ts";
import { relay } from "../tcp-relay.ts";
import { readAll, rec, seqOf, uniqueStream } from "./conformance.ts";
import { appendUntilFailure } from "./shared.ts";
import { freshStreams, type SilentBroker, silentFailureTests } from "./silent.ts";

const BROKER = "amqp://guest:guest@127.0.0.1:5672";
const cleanup: string[] = [];
let direct: StreamLog | undefined;
const directLog = async () => {
  direct ??= await openStreamLog(BROKER);
  return direct;
};
after(async () => {
  const log = await directLog();
  for (const s of cleanup) await log.deleteStream(s).catch(() => {});
  await log.close();
});

test("a wrong password is refused with a clear error that hides the password", async () => {
  await assert.rejects(openStreamLog("amqp://guest:wrong-s3cret@127.0.0.1:5672/x"), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "STREAM_AUTH_FAILED");
    assert.match(e.describe(), /guest:\*\*\*@127\.0\.0\.1:5672/);
    assert.doesNotMatch(e.describe(), /wrong-s3cret/);
    assert.match(e.hint ?? "", /password/);
    return true;
  });
});

test("when the broker stays away past the reconnect budget, a blocking producer fails and never claims an unwritten record", async () => {
  const { port, close: cut } = await relay(5672);
  const stream = uniqueStream("lost");
  cleanup.push(stream);
  // The relay stays cut: the adapter's reconnect attempts are refused until its budget (1s) is spent.
  const log = await openStreamLog(
    `amqp://guest:guest@127.0.0.1:${port}?reconnect=1s&backoff_min=100ms&backoff_max=200ms`,
  );
  const producer = await log.producer(stream, { policy: "block", maxBatch: 50 });
  const consumer = await log.consumer(stream, "g");
  const dropping = await log.producer(stream, { policy: "drop" });
  const acked: number[] = [];
  const writing = appendUntilFailure(producer, acked, 200);
  while (acked.length < 500) await new Promise((r) => setTimeout(r, 5));
  cut();
  const failure = await writing;
  assert.ok(isSluiceError(failure), `a SluiceError, got ${String(failure)}`);
  assert.equal(failure.code, "STREAM_BROKER_LOST");
  assert.match(failure.describe(), /127\.0\.0\.1/);
  // Later appends fail too rather than queueing into nothing.
  await assert.rejects(producer.append([rec("k", 1)]), (e: unknown) => isSluiceError(e));
  await assert.rejects(consumer.read({ max: 10, waitMs: 100 }), (e: unknown) => isSluiceError(e));
  assert.ok(producer.stats().appended === acked.length);
  // A drop-policy producer never throws at the source: its lost writes are counted instead.
  assert.deepEqual(await dropping.append([rec("k", 1), rec("k", 2)]), { accepted: 2, dropped: 0 });
  await dropping.flush();
  assert.equal(dropping.stats().failed, 2);
  assert.equal(dropping.stats().appended, 0);
  assert.match(dropping.stats().lastError ?? "", /lost the connection/);
  await log.close();

  // Every record an append acknowledged is in the stream, in order.
  const direct = await openStreamLog(BROKER);
  const got = (await readAll(direct, stream, acked.length)).map(seqOf);
  assert.ok(got.length >= acked.length);
  assert.deepEqual(got.slice(0, acked.length), acked);
  await direct.close();
});

// Silent failures (silent.ts): two heartbeats without a frame from the broker and amqplib drops the
// connection.
const silentRabbit: SilentBroker = {
  server: "RabbitMQ",
  port: 5672,
  url: (port, query) => `amqp://guest:guest@127.0.0.1:${port}?${query}`,
  direct: directLog,
  stream: freshStreams(cleanup),
  mayStoreCopies: true,
};

silentFailureTests(silentRabbit);
