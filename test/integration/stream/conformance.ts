/**
 * The stream-log conformance suite: one set of tests that every adapter must pass against its real
 * server. Each adapter's *.test.ts calls `streamLogConformance` with how to reach a fresh log.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { isSluiceError } from "../../../src/core/errors.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { OpenOptions, StoredRecord, StreamLog, StreamRecord } from "../../../src/stream/types.ts";

export interface AdapterUnderTest {
  name: string;
  /** The URL of the log under test (the same log for every test; streams are unique per test). */
  url: string;
  /** A URL whose server cannot be reached, and the error code it must give. */
  unreachable: { url: string; code: string };
}

const here = dirname(fileURLToPath(import.meta.url));
let counter = 0;
export const uniqueStream = (prefix = "t") =>
  `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

export const rec = (key: string, seq: number, size = 0): StreamRecord => ({
  key,
  value: Buffer.concat([Buffer.from(JSON.stringify({ seq })), Buffer.alloc(size, 0x20)]),
  timestamp: 1_700_000_000_000 + seq,
});
export const seqOf = (r: StoredRecord): number =>
  (JSON.parse(Buffer.from(r.value).toString()) as { seq: number }).seq;

/** Reads a stream from `from` until `count` records have come or nothing new arrives for a while. */
export async function readAll(
  log: StreamLog,
  stream: string,
  count: number,
  from = 0,
): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let next = from;
  let idle = 0;
  while (out.length < count && idle < 10) {
    const recs = await log.read(stream, next, { max: 5000, waitMs: 500 });
    if (recs.length === 0) idle++;
    for (const r of recs) out.push(r);
    const last = recs.at(-1);
    if (last) next = last.offset + 1;
  }
  return out;
}

interface Child {
  proc: ChildProcess;
  lines: string[];
  stderr(): string;
  /** Resolves with the first line (seen so far or later) that matches. */
  waitFor(match: (line: string) => boolean, what: string): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnChild(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", join(here, script), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let err = "";
  let partial = "";
  const watchers = new Set<() => void>();
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
    for (const w of watchers) w();
  });
  proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("exit", (code, signal) => {
      resolve({ code, signal });
      for (const w of watchers) w();
    }),
  );
  return {
    proc,
    lines,
    stderr: () => err,
    exited,
    waitFor: (match, what) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const hit = lines.find(match);
          if (hit !== undefined) {
            watchers.delete(check);
            resolve(hit);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            watchers.delete(check);
            reject(new Error(`${script} exited before ${what}; stderr:\n${err}`));
          }
        };
        watchers.add(check);
        check();
      }),
  };
}

const lastNumber = (lines: string[], word: string): number => {
  let n = -1;
  for (const l of lines) if (l.startsWith(`${word} `)) n = Math.max(n, Number(l.slice(word.length + 1)));
  return n;
};

export function streamLogConformance(adapter: AdapterUnderTest): void {
  describe(`stream log conformance: ${adapter.name}`, () => {
    const logs: StreamLog[] = [];
    const created: string[] = [];
    const open = async (options: OpenOptions = {}) => {
      const log = await openStreamLog(adapter.url, options);
      logs.push(log);
      return log;
    };
    const fresh = (prefix?: string) => {
      const s = uniqueStream(prefix);
      created.push(s);
      return s;
    };
    after(async () => {
      const log = await openStreamLog(adapter.url);
      for (const s of created) await log.deleteStream(s).catch(() => {});
      await log.close();
      for (const l of logs) await l.close().catch(() => {});
    });

    test("records come back in append order with key, value, timestamp and headers intact", async () => {
      const log = await open();
      const stream = fresh();
      const p = await log.producer(stream);
      const sent: StreamRecord[] = [];
      for (let i = 0; i < 250; i++) {
        const r = rec(`k${i % 7}`, i, i % 50);
        if (i % 3 === 0) r.headers = { trace: `t${i}`, kind: "x" };
        sent.push(r);
      }
      await p.append(sent.slice(0, 1));
      await p.append(sent.slice(1, 100));
      await p.append(sent.slice(100));
      assert.deepEqual(p.stats().appended, 250);
      const got = await readAll(log, stream, 250);
      assert.equal(got.length, 250);
      got.forEach((r, i) => {
        const s = sent[i]!;
        assert.equal(r.offset, i, "offsets are consecutive from 0");
        assert.equal(r.key, s.key);
        assert.deepEqual(Buffer.from(r.value), Buffer.from(s.value));
        assert.equal(r.timestamp, s.timestamp);
        assert.deepEqual(r.headers, s.headers);
      });
      const from = await log.read(stream, 200, { max: 10 });
      assert.deepEqual(
        from.map((r) => r.offset),
        [200, 201, 202, 203, 204, 205, 206, 207, 208, 209],
      );
      const info = await log.info(stream);
      assert.equal(info.exists, true);
      assert.deepEqual(info.partitions, [{ partition: 0, first: 0, head: 249 }]);
    });

    test("per-key order holds when many callers append concurrently", async () => {
      const log = await open();
      const stream = fresh();
      const p = await log.producer(stream, { maxBatch: 64 });
      const keys = 8;
      const perKey = 120;
      await Promise.all(
        Array.from({ length: keys }, async (_, k) => {
          for (let i = 0; i < perKey; i += 1 + (i % 5)) {
            const batch: StreamRecord[] = [];
            for (let j = i; j < Math.min(perKey, i + 1 + (i % 5)); j++) batch.push(rec(`key-${k}`, j));
            await p.append(batch);
          }
        }),
      );
      const got = await readAll(log, stream, keys * perKey);
      assert.equal(got.length, keys * perKey);
      const seen = new Map<string, number[]>();
      for (const r of got) seen.set(r.key, [...(seen.get(r.key) ?? []), seqOf(r)]);
      assert.equal(seen.size, keys);
      for (const [key, seqs] of seen)
        assert.deepEqual(
          seqs,
          Array.from({ length: perKey }, (_, i) => i),
          `order of ${key}`,
        );
    });

    test("a consumer group resumes after its committed offset (at-least-once) and reports lag", async () => {
      const log = await open();
      const stream = fresh();
      const p = await log.producer(stream);
      await p.append(Array.from({ length: 100 }, (_, i) => rec("k", i)));
      const c1 = await log.consumer(stream, "g1");
      assert.equal(await c1.committed(), undefined);
      const first: StoredRecord[] = [];
      while (first.length < 60) first.push(...(await c1.read({ max: 60 - first.length, waitMs: 1000 })));
      assert.deepEqual(
        first.map((r) => r.offset),
        Array.from({ length: 60 }, (_, i) => i),
      );
      await c1.commit(39);
      assert.equal(await c1.committed(), 39);
      assert.equal(await c1.lag(), 99 - 39);
      await c1.close();

      // A new member of the group starts right after the commit: 40..59 are delivered again.
      const c2 = await log.consumer(stream, "g1");
      const again = await c2.read({ max: 10, waitMs: 2000 });
      assert.equal(again[0]?.offset, 40);
      // Another group is independent and starts at the beginning.
      const other = await log.consumer(stream, "g2");
      assert.equal((await other.read({ max: 1, waitMs: 2000 }))[0]?.offset, 0);
      await c2.commit(99);
      assert.equal(await c2.lag(), 0);

      // The commit is durable: a separate connection sees it.
      const log2 = await open();
      const info = await log2.info(stream);
      const g1 = info.groups.find((g) => g.group === "g1");
      assert.deepEqual(g1, { group: "g1", committed: 99, lag: 0 });
      assert.equal(
        info.groups.find((g) => g.group === "g2"),
        undefined,
        "g2 never committed",
      );

      // The async iterator continues from the position and sees new appends.
      await p.append([rec("k", 100), rec("k", 101)]);
      const c3 = await log2.consumer(stream, "g1");
      const it: number[] = [];
      for await (const r of c3) {
        it.push(r.offset);
        if (it.length === 2) break;
      }
      assert.deepEqual(it, [100, 101]);
    });

    test("a consumer can start at latest or at an offset, and seek", async () => {
      const log = await open();
      const stream = fresh();
      const p = await log.producer(stream);
      await p.append(Array.from({ length: 20 }, (_, i) => rec("k", i)));
      const latest = await log.consumer(stream, "late", { start: "latest" });
      assert.deepEqual(await latest.read({ max: 5, waitMs: 300 }), []);
      await p.append([rec("k", 20)]);
      assert.equal((await latest.read({ max: 5, waitMs: 2000 }))[0]?.offset, 20);
      const at = await log.consumer(stream, "at", { start: 15 });
      assert.equal((await at.read({ max: 1, waitMs: 2000 }))[0]?.offset, 15);
      await at.seek(3);
      assert.equal((await at.read({ max: 1, waitMs: 2000 }))[0]?.offset, 3);
      assert.equal(at.position(), 4);
      assert.equal((await at.read({ from: 10, max: 1, waitMs: 2000 }))[0]?.offset, 10);
      assert.equal(at.position(), 11);
    });

    test("a producer killed with SIGKILL and restarted loses nothing it acknowledged", async () => {
      const log = await open();
      const stream = fresh();
      await (await log.producer(stream)).flush();
      const total = 1500;
      const first = spawnChild("child-producer.ts", [adapter.url, stream, "0", "1000000", "7"]);
      await first.waitFor((l) => l.startsWith("acked ") && Number(l.slice(6)) >= 400, "400 acked records");
      first.proc.kill("SIGKILL");
      const killed = await first.exited;
      assert.equal(killed.signal, "SIGKILL");
      const acked = lastNumber(first.lines, "acked");
      assert.ok(acked >= 400);

      const second = spawnChild("child-producer.ts", [
        adapter.url,
        stream,
        String(acked + 1),
        String(total),
        "7",
      ]);
      await second.waitFor((l) => l === "done", "done");
      assert.equal((await second.exited).code, 0);

      // Everything in the stream: more than `total` records when the first run's last batch was written
      // but not acknowledged before the kill (the second run sends it again).
      const head = (await log.info(stream)).partitions[0]?.head ?? -1;
      assert.ok(head + 1 >= total, `${head + 1} records in the stream, ${total} sent`);
      const got = await readAll(log, stream, head + 1);
      assert.equal(got.length, head + 1);
      const seqs = got.map(seqOf);
      const present = new Set(seqs);
      for (let s = 0; s < total; s++) assert.ok(present.has(s), `sequence ${s} is in the stream`);
      // Only records that were in flight at the kill (never acknowledged) may be there twice.
      const count = new Map<number, number>();
      for (const s of seqs) count.set(s, (count.get(s) ?? 0) + 1);
      for (const [s, n] of count)
        if (n > 1) assert.ok(s > acked, `duplicate ${s} was acknowledged (${acked})`);
      // Per-key order inside each run: sequences per key increase except where the second run begins.
      const byKey = new Map<string, number[]>();
      for (const r of got) byKey.set(r.key, [...(byKey.get(r.key) ?? []), seqOf(r)]);
      for (const [key, list] of byKey) {
        let drops = 0;
        for (let i = 1; i < list.length; i++) if (list[i]! <= list[i - 1]!) drops++;
        assert.ok(drops <= 1, `key ${key} goes back ${drops} times`);
      }
    });

    test("a consumer killed with SIGKILL and restarted sees every record, again only the uncommitted", async () => {
      const log = await open();
      const stream = fresh();
      const total = 3000;
      const p = await log.producer(stream);
      for (let i = 0; i < total; i += 500)
        await p.append(Array.from({ length: 500 }, (_, j) => rec(`k${j % 3}`, i + j)));
      const dir = mkdtempSync(join(tmpdir(), "sluice-consumer-"));
      const out = join(dir, "processed.txt");
      try {
        const args = (run: string) => [adapter.url, stream, "kill-test", out, run, String(total - 1), "40"];
        const first = spawnChild("child-consumer.ts", args("1"));
        await first.waitFor((l) => l.startsWith("committed ") && Number(l.slice(10)) >= 600, "600 committed");
        first.proc.kill("SIGKILL");
        assert.equal((await first.exited).signal, "SIGKILL");

        const info = await log.info(stream);
        const committed = info.groups.find((g) => g.group === "kill-test")?.committed;
        assert.ok(committed !== undefined && committed >= lastNumber(first.lines, "committed"));

        const second = spawnChild("child-consumer.ts", args("2"));
        await second.waitFor((l) => l === "done", "done");
        assert.equal(second.lines[0], `start ${committed}`);

        const rows = readFileSync(out, "utf8")
          .trim()
          .split("\n")
          .map((l) => l.split(" ").map(Number) as [number, number, number]);
        const run1 = rows.filter((r) => r[0] === 1).map((r) => r[1]);
        const run2 = rows.filter((r) => r[0] === 2).map((r) => r[1]);
        assert.equal(run2[0], committed + 1, "the restarted consumer begins right after the commit");
        const union = new Set([...run1, ...run2]);
        for (let o = 0; o < total; o++) assert.ok(union.has(o), `offset ${o} was processed`);
        const inRun1 = new Set(run1);
        for (const o of run2) if (inRun1.has(o)) assert.ok(o > committed, `committed offset ${o} came again`);
        for (const r of rows) assert.equal(r[1], r[2], "offset and sequence agree");
        assert.equal((await log.info(stream)).groups.find((g) => g.group === "kill-test")?.lag, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("block policy: appends wait for room and nothing is lost", async () => {
      const log = await open();
      const stream = fresh();
      const p = await log.producer(stream, { policy: "block", maxQueuedRecords: 20, maxBatch: 5 });
      let maxQueued = 0;
      const callers = Array.from({ length: 10 }, async (_, c) => {
        for (let i = 0; i < 30; i++) {
          const pending = p.append([rec(`c${c}`, i), rec(`c${c}`, i + 1000)]);
          maxQueued = Math.max(maxQueued, p.stats().queued);
          const res = await pending;
          assert.deepEqual(res, { accepted: 2, dropped: 0 });
        }
      });
      await Promise.all(callers);
      assert.ok(maxQueued <= 20, `queue held ${maxQueued} records, capacity 20`);
      const stats = p.stats();
      assert.equal(stats.appended, 600);
      assert.equal(stats.dropped, 0);
      assert.equal(stats.queued, 0);
      assert.equal((await readAll(log, stream, 600)).length, 600);
    });

    test("drop policy: a full queue drops and counts, memory stays bounded, the rest is written", async () => {
      const log = await open();
      const stream = fresh();
      const p = await log.producer(stream, {
        policy: "drop",
        maxQueuedRecords: 100,
        maxQueuedBytes: 64 * 1024,
      });
      let accepted = 0;
      let dropped = 0;
      let maxQueued = 0;
      let maxBytes = 0;
      // A source that never waits: 5000 appends of one 1 KiB record in one synchronous burst.
      for (let i = 0; i < 5000; i++) {
        const r = await Promise.race([p.append([rec("k", i, 1024)]), "pending" as const]);
        assert.notEqual(r, "pending", "a drop-policy append never waits");
        if (r === "pending") break;
        accepted += r.accepted;
        dropped += r.dropped;
        const s = p.stats();
        maxQueued = Math.max(maxQueued, s.queued);
        maxBytes = Math.max(maxBytes, s.queuedBytes);
      }
      await p.flush();
      const s = p.stats();
      assert.equal(accepted + dropped, 5000);
      assert.ok(dropped > 0, "a burst beyond capacity drops");
      assert.equal(s.dropped, dropped);
      assert.ok(maxQueued <= 100, `queued ${maxQueued} > 100`);
      assert.ok(maxBytes <= 64 * 1024, `queued ${maxBytes} bytes > 64 KiB`);
      assert.equal(s.appended, accepted);
      assert.equal(s.failed, 0);
      const got = await readAll(log, stream, accepted);
      assert.equal(got.length, accepted);
      const seqs = got.map(seqOf);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        "what was kept is in order",
      );
    });

    test("retention by size removes the oldest records and keeps the head", async () => {
      const log = await open({ retention: { maxBytes: 64 * 1024 } });
      const stream = fresh();
      const p = await log.producer(stream);
      for (let i = 0; i < 40; i++)
        await p.append(Array.from({ length: 10 }, (_, j) => rec("k", i * 10 + j, 1024)));
      // Retention runs in the background of the store; give it a few appends' worth of chances.
      let first = 0;
      for (let i = 0; i < 50 && first === 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        await p.append([rec("k", 400 + i, 1024)]);
        first = (await log.info(stream)).partitions[0]?.first ?? 0;
      }
      const info = await log.info(stream);
      assert.ok((info.partitions[0]?.first ?? 0) > 0, "old records were removed");
      assert.ok((info.partitions[0]?.head ?? 0) >= 400);
      const got = await log.read(stream, 0, { max: 1 });
      assert.equal(
        got[0]?.offset,
        info.partitions[0]?.first,
        "reading from 0 starts at the first retained record",
      );
    });

    test("a bad URL, an unknown scheme and an unreachable server give clear errors quickly", async () => {
      const expectError = async (url: string, code: RegExp, mentions: RegExp) => {
        const started = Date.now();
        await assert.rejects(openStreamLog(url, { connectTimeoutMs: 3000 }), (e: unknown) => {
          assert.ok(isSluiceError(e), `a SluiceError, got ${String(e)}`);
          assert.match(e.code, code);
          assert.match(e.describe(), mentions);
          assert.ok(e.hint, "says what to do");
          assert.doesNotMatch(e.describe(), /s3cret/, "never shows the password");
          return true;
        });
        return Date.now() - started;
      };
      await expectError("nosuch://x", /^USAGE_STREAM_URL$/, /nosuch/);
      await expectError("not a url", /^USAGE_STREAM_URL$/, /not a url/);
      await expectError("amqp://user:s3cret@/x", /^USAGE_STREAM_URL$/, /user:\*\*\*@/);
      await expectError("file:./x.db?stream=bad name", /^USAGE_STREAM_NAME$/, /bad name/);
      const elapsed = await expectError(
        adapter.unreachable.url,
        new RegExp(`^${adapter.unreachable.code}$`),
        /./,
      );
      // Not a timing assertion on the adapter's speed: a connect that hangs would hit the test timeout.
      void elapsed;
    });
  });
}
