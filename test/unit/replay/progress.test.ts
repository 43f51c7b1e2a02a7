import assert from "node:assert/strict";
import { test } from "node:test";
import type { ReplayProgress } from "../../../src/replay/player.ts";
import {
  type Answer,
  Comparison,
  formatProgress,
  formatSummary,
  renderHtml,
  SLOWEST_KEPT,
} from "../../../src/replay/report.ts";

const ok = (latencyUs: number): Answer => ({
  ok: true,
  errno: undefined,
  affectedRows: 0,
  rows: 0,
  latencyUs,
});
const err = (errno: number, latencyUs = 50): Answer => ({
  ok: false,
  errno,
  affectedRows: 0,
  rows: 0,
  latencyUs,
});
const extra = { sessions: 1, elapsedMs: 1000, drift: { meanUs: 0, p99Us: 0, maxUs: 0 }, lagMs: 0 };
/** Within HdrHistogram's 3 significant digits. */
const near = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) <= expected / 500, `${actual} is not ~${expected}`);

test("interval percentiles from known latencies (1..1000 ms)", () => {
  const c = new Comparison();
  for (let i = 1; i <= 1000; i++) c.record("select ?", "SELECT 1", undefined, ok(i * 1000), 1, i);
  const i = c.takeInterval();
  assert.equal(i.commands, 1000);
  near(i.p50Us, 500_000);
  near(i.p95Us, 950_000);
  near(i.p99Us, 990_000);
  const next = c.takeInterval();
  assert.deepEqual([next.commands, next.p50Us, next.p95Us, next.p99Us], [0, 0, 0, 0]);
});

test("the running latency quantiles (metrics) cover every fingerprint and every interval", () => {
  const c = new Comparison();
  for (let i = 1; i <= 1000; i++) {
    c.record(i % 2 ? "odd" : "even", "x", undefined, ok(i * 1000));
    if (i % 100 === 0) c.takeInterval();
  }
  const q = c.totals().latencyUs;
  near(q["0.5"] ?? 0, 500_000);
  near(q["0.95"] ?? 0, 950_000);
  near(q["0.99"] ?? 0, 990_000);
  near(q["0.999"] ?? 0, 999_000);
  near(q["1"] ?? 0, 1_000_000);
  assert.deepEqual(new Comparison().totals().latencyUs, {
    "0.5": 0,
    "0.95": 0,
    "0.99": 0,
    "0.999": 0,
    "1": 0,
  });
});

test("errors by code in the interval and in total", () => {
  const c = new Comparison();
  c.record("a", "a", undefined, err(1062));
  c.record("a", "a", undefined, err(1213));
  c.record("a", "a", undefined, ok(10));
  const first = c.takeInterval();
  assert.deepEqual(first.errorsByCode, { "1062": 1, "1213": 1 });
  assert.deepEqual(first.errorsTotalByCode, { "1062": 1, "1213": 1 });
  c.record("a", "a", undefined, err(1062));
  const second = c.takeInterval();
  assert.deepEqual(second.errorsByCode, { "1062": 1 });
  assert.deepEqual(second.errorsTotalByCode, { "1062": 2, "1213": 1 });
  assert.deepEqual(c.takeInterval().errorsByCode, {});
  const t = c.totals();
  assert.equal(t.ok, 1);
  assert.equal(t.error, 3);
  assert.equal(t.ok + t.error, c.summary(extra).commands);
});

test("slow commands: counted above the threshold, in the interval and in total, with the interval's slowest", () => {
  const c = new Comparison(100); // 100 ms
  c.record("select a", "SELECT a", ok(5_000), ok(100_000), 3, 1); // exactly at the threshold: not slow
  c.record("select b", "SELECT b", ok(5_000), ok(150_000), 3, 2);
  c.record("select c", "SELECT c", undefined, ok(400_000), 4, 7);
  c.record("select d", "SELECT d", ok(1_000), err(1205, 120_000), 5, 9);
  const i = c.takeInterval();
  assert.equal(i.slow, 3);
  assert.equal(i.slowTotal, 3);
  assert.deepEqual(i.slowest, {
    session: 4,
    seq: 7,
    fingerprint: "select c",
    example: "SELECT c",
    targetUs: 400_000,
    sourceUs: undefined,
  });
  c.record("select e", "SELECT e", ok(1_000), ok(2_000), 6, 1);
  const j = c.takeInterval();
  assert.equal(j.slow, 0);
  assert.equal(j.slowTotal, 3);
  assert.equal(j.slowest?.fingerprint, "select e", "the interval's slowest, even when not slow");
  assert.equal(c.takeInterval().slowest, undefined);
  assert.equal(c.totals().slow, 3);
});

test("the end report keeps the 10 slowest, slowest first, examples clipped", () => {
  const c = new Comparison(50);
  const latencies = Array.from({ length: 40 }, (_, k) => ((k * 17) % 40) + 1); // 1..40 ms, shuffled
  for (const [k, l] of latencies.entries())
    c.record(`q${l}`, `SELECT ${"x".repeat(300)} /* ${l} */`, ok(l * 100), ok(l * 1000), 1, k);
  const s = c.summary(extra);
  assert.equal(s.slow.thresholdMs, 50);
  assert.equal(s.slow.count, 0);
  assert.equal(s.slow.slowest.length, SLOWEST_KEPT);
  assert.deepEqual(
    s.slow.slowest.map((x) => x.targetUs),
    Array.from({ length: 10 }, (_, k) => (40 - k) * 1000),
  );
  assert.equal(s.slow.slowest[0]?.fingerprint, "q40");
  assert.equal(s.slow.slowest[0]?.sourceUs, 4000);
  assert.equal(s.slow.slowest[0]?.seq, latencies.indexOf(40));
  assert.ok((s.slow.slowest[0]?.example.length ?? 0) <= 200);
  assert.ok(s.slow.slowest[0]?.example.endsWith("..."));
});

test("text and HTML reports list the slowest commands; the drift text is kept", () => {
  const c = new Comparison(1);
  c.record("update t set v=? where id=?", "UPDATE t SET v=1 WHERE id=2", ok(1500), ok(2500), 7, 42);
  c.record("select <x>", "SELECT '<x>'", undefined, ok(500), 8, 3);
  const s = c.summary(extra);
  const text = formatSummary(s);
  assert.match(text, /drift mean 0\.00ms max 0\.00ms/);
  assert.match(text, /slow commands \(over 1ms on the target\): 1; the 2 slowest:/);
  assert.match(text, /\s2\.50\s+1\.50\s+7:42\s+update t set v=\? where id=\?/);
  assert.match(text, /\s0\.50\s+-\s+8:3\s+select <x>/);
  const html = renderHtml(s);
  assert.match(html, /<h2>Slowest commands on the target<\/h2>/);
  assert.match(html, /<tr class="diff"><td>2\.50<\/td><td>1\.50<\/td><td>7<\/td><td>42<\/td>/);
  assert.match(html, /select &lt;x&gt;/);
  assert.doesNotMatch(html, /select <x>/);
  assert.deepEqual(JSON.parse(JSON.stringify(s)).slow.slowest[0].seq, 42);
});

test("sessions of a named capture run are labelled run/number in the slowest commands and the state not restored", () => {
  const c = new Comparison(1);
  c.record("select ?", "SELECT 1", ok(100), ok(3000), 1, 5, "mxdhjh7k-9f0c27aa");
  c.record("select ?", "SELECT 2", ok(100), ok(2000), 1, 6);
  c.notRestored(1, "user variable @a (set by a query)", "mxdhjh7k-9f0c27aa");
  const s = c.summary(extra);
  assert.deepEqual(
    s.slow.slowest.map((x) => [x.run, x.session, x.seq]),
    [
      ["mxdhjh7k-9f0c27aa", 1, 5],
      [undefined, 1, 6],
    ],
  );
  const text = formatSummary(s);
  assert.match(text, /\s3\.00\s+0\.10\s+mxdhjh7k-9f0c27aa\/1:5\s+select \?/);
  assert.match(text, /\s2\.00\s+0\.10\s+1:6\s+select \?/);
  assert.deepEqual(s.stateNotRestored.examples, [
    "session mxdhjh7k-9f0c27aa/1: user variable @a (set by a query)",
  ]);
  assert.match(renderHtml(s), /<td>mxdhjh7k-9f0c27aa\/1<\/td><td>5<\/td>/);
});

test("the progress line names every figure", () => {
  const p: ReplayProgress = {
    elapsedMs: 10_000,
    intervalMs: 5000,
    commands: 100,
    commandsPerSecond: 20,
    p50Us: 1000,
    p95Us: 2000,
    p99Us: 3000,
    errorsByCode: { "1062": 2 },
    errorsTotalByCode: { "1062": 3 },
    slowMs: 1000,
    slow: 1,
    slowTotal: 4,
    slowest: {
      session: 3,
      seq: 9,
      fingerprint: "select ?",
      example: "SELECT 1",
      targetUs: 1_500_000,
      sourceUs: 800,
    },
    sessionsOpen: 2,
    sessionsWaiting: 0,
    lagMs: 4,
    behindCaptureMs: 2500,
    uncommittedRecords: 17,
  };
  assert.equal(
    formatProgress(p),
    'replay 10s: 20 cmd/s, p50/p95/p99 1.00/2.00/3.00ms, errors 2 {"1062":2} (total 3 {"1062":3}), slow >1000ms 1 (total 4), slowest 1500.00ms (source 0.80ms) session 3 seq 9 select ?, sessions open 2 waiting 0, scheduling lag 4ms, behind capture 2.5s, uncommitted records 17',
  );
  const { behindCaptureMs: _, uncommittedRecords: __, ...quiet } = p;
  assert.equal(
    formatProgress({ ...quiet, slowest: undefined, errorsByCode: {}, errorsTotalByCode: {} }),
    "replay 10s: 20 cmd/s, p50/p95/p99 1.00/2.00/3.00ms, errors 0 (total 0), slow >1000ms 1 (total 4), sessions open 2 waiting 0, scheduling lag 4ms",
  );
});
