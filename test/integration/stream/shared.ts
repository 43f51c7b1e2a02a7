// Checks that more than one adapter's tests run, each against its own server: the CLI round trip,
// retention by age, a blocking producer writing until the server is lost, and `tail -f` when it is.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { Producer, StreamLog, StreamRecord } from "../../../src/stream/types.ts";
import type { TcpRelay } from "../tcp-relay.ts";
import { rec } from "./conformance.ts";

export const sluiceStream = (args: string[], input?: string) =>
  spawnSync(process.execPath, ["bin/sluice.js", "stream", ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
  });

/**
 * `sluice stream append`, `tail --group` and `info --json` on `url` (`streamArgs` name the stream when
 * the URL does not): three lines appended, two tailed and committed, the third on the next tail;
 * `info` names `adapter` when it is given. Returns the append's stderr.
 */
export function cliRoundTrip(url: string, streamArgs: string[] = [], adapter?: string): string {
  const a = sluiceStream(["append", url, ...streamArgs, "--key", "k", "--json"], "alpha\nbeta\ngamma\n");
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(JSON.parse(a.stdout), { appended: 3 });

  const t = sluiceStream(["tail", url, ...streamArgs, "--group", "g", "-n", "2", "--json"]);
  assert.equal(t.status, 0, t.stderr);
  const recs = t.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { offset: number; key: string; value: string });
  assert.deepEqual(
    recs.map((r) => [r.offset, r.key, r.value]),
    [
      [0, "k", "alpha"],
      [1, "k", "beta"],
    ],
  );

  const i = sluiceStream(["info", url, ...streamArgs, "--json"]);
  assert.equal(i.status, 0, i.stderr);
  const info = JSON.parse(i.stdout) as {
    adapter: string;
    streams: { partitions: unknown[]; groups: unknown[] }[];
  };
  if (adapter !== undefined) assert.equal(info.adapter, adapter);
  assert.deepEqual(info.streams[0]?.partitions, [{ partition: 0, first: 0, head: 2 }]);
  assert.deepEqual(info.streams[0]?.groups, [{ group: "g", committed: 1, lag: 1 }]);

  // The group resumes after its commit.
  const again = sluiceStream(["tail", url, ...streamArgs, "--group", "g"]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^2\t\S+\tk\tgamma\n$/);
  return a.stderr;
}

/**
 * Retention by age with a store that looks at it at most once a second while appending: what was
 * appended before the limit goes, offsets stay.
 */
export async function checkRetentionByAge(url: string): Promise<void> {
  const log = await openStreamLog(url, { retention: { maxAgeMs: 300 } });
  try {
    const p = await log.producer("aged");
    await p.append(Array.from({ length: 50 }, (_, i) => rec("k", i)));
    await new Promise((r) => setTimeout(r, 1100));
    await p.append([rec("k", 50)]);
    const info = await log.info("aged");
    assert.deepEqual(info.partitions, [{ partition: 0, first: 50, head: 50 }]);
    assert.deepEqual(info.retention, { maxAgeMs: 300 });
    assert.equal((await log.read("aged", 0, { max: 10 }))[0]?.offset, 50);
  } finally {
    await log.close();
  }
}

/**
 * Appends batches of 50 records (sequence numbers from 0, `size` bytes of padding) with a `block`
 * producer until an append fails; `acked` collects the sequence numbers acknowledged. Resolves with
 * the failure.
 */
export async function appendUntilFailure(
  producer: Producer,
  acked: number[],
  size: number,
): Promise<unknown> {
  let seq = 0;
  try {
    for (;;) {
      const batch: StreamRecord[] = [];
      for (let i = 0; i < 50; i++) batch.push(rec(`k${seq % 3}`, seq++, size));
      await producer.append(batch);
      for (const r of batch) acked.push(JSON.parse(Buffer.from(r.value).toString()).seq as number);
    }
  } catch (e) {
    return e;
  }
}

/**
 * `sluice stream tail URL --group g -f --json` on a stream of 50 records, through `net`; once the tail
 * has committed offset 49, the relay goes down for good: the tail must exit 1 with STREAM_BROKER_LOST
 * naming the server (`server` as the messages name it), the offset and the commit, which stays intact.
 */
export async function tailFollowUntilServerGone(opts: {
  writer: StreamLog;
  stream: string;
  url: string;
  net: TcpRelay;
  server: string;
}): Promise<void> {
  const { writer, stream, url, net } = opts;
  await (await writer.producer(stream)).append(Array.from({ length: 50 }, (_, i) => rec("k", i)));
  const child = spawn(
    process.execPath,
    ["bin/sluice.js", "stream", "tail", url, "--group", "g", "-f", "--json"],
    {
      env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    // The tail prints, then commits: wait for the 50 lines and the commit of offset 49 on the server.
    while (
      stdout.split("\n").filter(Boolean).length < 50 ||
      (await writer.info(stream)).groups.find((g) => g.group === "g")?.committed !== 49
    )
      await new Promise((r) => setTimeout(r, 50));
    net.down();
    const code = await exited;
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      new RegExp(`lost the connection to ${opts.server} at 127\\.0\\.0\\.1.*reconnecting for up to 1\\.0s`),
      "logged",
    );
    // With --json the error is the last line of stderr, as JSON.
    const { error } = JSON.parse(stderr.trim().split("\n").at(-1)!) as {
      error: { code: string; message: string; context: Record<string, unknown>; hint: string };
    };
    assert.equal(error.code, "STREAM_BROKER_LOST");
    assert.match(error.message, /could not reconnect within 1s/);
    assert.match(error.message, new RegExp(`reading stream '${stream}' at offset 50`));
    assert.equal(error.context.broker, `127.0.0.1:${net.port}`);
    assert.equal(error.context.committed, "g=49");
    assert.match(error.hint, /resumes at committed \+ 1/);
    const info = await writer.info(stream);
    assert.equal(info.groups.find((g) => g.group === "g")?.committed, 49, "the checkpoint is intact");
  } finally {
    child.kill("SIGKILL");
    net.close();
  }
}
