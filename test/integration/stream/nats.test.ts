import assert from "node:assert/strict";
import { after, test } from "node:test";
import { openStreamLog } from "../../../src/stream/index.ts";
import { readAll, rec, streamLogConformance, uniqueStream } from "./conformance.ts";
import { cliRoundTrip, sluiceStream } from "./shared.ts";

// The local nats-server with JetStream (scripts/run.sh starts it); port 1 is never listening.
const SERVER = "nats://127.0.0.1:4222";
streamLogConformance({
  name: "nats",
  url: SERVER,
  unreachable: { url: "nats://user:s3cret@127.0.0.1:1/x", code: "STREAM_UNREACHABLE" },
});

const cleanup: string[] = [];
after(async () => {
  const log = await openStreamLog(SERVER);
  for (const s of cleanup) await log.deleteStream(s).catch(() => {});
  await log.close();
});

test("nats: stream names with '.' and '_' map to distinct JetStream streams, are listed and deleted with their groups", async () => {
  const log = await openStreamLog(SERVER);
  try {
    const base = uniqueStream("names");
    const names = [`${base}.a_b`, `${base}_a.b`, `${base}.a.b`];
    cleanup.push(...names);
    for (const [i, name] of names.entries()) await (await log.producer(name)).append([rec("k", i)]);
    const listed = await log.streams();
    for (const name of names) assert.ok(listed.includes(name), `${name} is listed`);
    for (const [i, name] of names.entries()) {
      const got = await readAll(log, name, 1);
      assert.deepEqual(
        got.map((r) => [r.offset, JSON.parse(Buffer.from(r.value).toString()).seq]),
        [[0, i]],
      );
    }
    const c = await log.consumer(names[0]!, "g.1");
    await c.commit(0);
    assert.deepEqual((await log.info(names[0]!)).groups, [{ group: "g.1", committed: 0, lag: 0 }]);
    assert.deepEqual((await log.info(names[1]!)).groups, []);
    await log.deleteStream(names[0]!);
    assert.equal((await log.info(names[0]!)).exists, false);
    assert.ok(!(await log.streams()).includes(names[0]!));
    // A stream created again under the name starts at offset 0 with no groups.
    await (await log.producer(names[0]!)).append([rec("k", 7)]);
    const again = await log.info(names[0]!);
    assert.deepEqual(again.partitions, [{ partition: 0, first: 0, head: 0 }]);
    assert.deepEqual(again.groups, []);
  } finally {
    await log.close();
  }
});

test("nats: readers of a stream never written to wait, then start at offset 0", async () => {
  const stream = uniqueStream("empty");
  cleanup.push(stream);
  const log = await openStreamLog(SERVER);
  try {
    const c = await log.consumer(stream, "g");
    assert.deepEqual(await c.read({ max: 10, waitMs: 100 }), []);
    assert.deepEqual(await log.read(stream, 0, { max: 10 }), []);
    assert.deepEqual((await log.info(stream)).partitions, [
      { partition: 0, first: undefined, head: undefined },
    ]);
    await (await log.producer(stream)).append([rec("k", 0), rec("k", 1)]);
    assert.deepEqual(
      (await c.read({ max: 10, waitMs: 2000 })).map((r) => r.offset),
      [0, 1],
    );
  } finally {
    await log.close();
  }
});

test("nats: retention by age and size is kept on the JetStream stream and reported by info", async () => {
  const stream = uniqueStream("ret");
  cleanup.push(stream);
  const log = await openStreamLog(SERVER, { retention: { maxAgeMs: 3_600_000, maxBytes: 1_000_000 } });
  try {
    await (await log.producer(stream)).append([rec("k", 0)]);
    assert.deepEqual((await log.info(stream)).retention, { maxAgeMs: 3_600_000, maxBytes: 1_000_000 });
  } finally {
    await log.close();
  }
  // Opened again with another retention, the stream takes it (as on SQLite).
  const again = await openStreamLog(SERVER, { retention: { maxAgeMs: 60_000 } });
  try {
    await (await again.producer(stream)).append([rec("k", 1)]);
    assert.deepEqual((await again.info(stream)).retention, { maxAgeMs: 60_000 });
  } finally {
    await again.close();
  }
});

test("nats: sluice stream append, tail --group, info and delete take a nats:// URL", () => {
  const stream = uniqueStream("cli");
  cleanup.push(stream);
  cliRoundTrip(SERVER, ["--stream", stream], "nats");
  // The stream in the URL's path, as the other commands take it.
  const url = `${SERVER}/${stream}`;
  const d = sluiceStream(["delete", url]);
  assert.equal(d.status, 0, d.stderr);
  const gone = sluiceStream(["info", url, "--json"]);
  assert.equal(gone.status, 1);
  assert.equal((JSON.parse(gone.stdout) as { streams: { exists: boolean }[] }).streams[0]?.exists, false);
});
