import assert from "node:assert/strict";
import { test } from "node:test";
import { type Answer, Comparison, formatSummary, renderHtml } from "../../../src/replay/report.ts";

const ok = (latencyUs: number, rows = 0, affectedRows = 0): Answer => ({
  ok: true,
  errno: undefined,
  affectedRows,
  rows,
  latencyUs,
});
const err = (errno: number): Answer => ({ ok: false, errno, affectedRows: 0, rows: 0, latencyUs: 50 });
const extra = { sessions: 2, elapsedMs: 1000, drift: { meanUs: 10, p99Us: 15_000, maxUs: 20_000 }, lagMs: 0 };

test("counts, percentiles and differences by fingerprint", () => {
  const c = new Comparison();
  for (let i = 1; i <= 100; i++) c.record("select ?", "SELECT 1", ok(i * 1000, 1), ok(i * 2000, 1));
  c.record("select * from t", "SELECT * FROM t", ok(100, 3), ok(100, 2));
  c.record("select * from t", "SELECT * FROM t", ok(100, 3), err(1146));
  c.record("select * from x", "SELECT * FROM x", err(1146), err(1146));
  c.record("delete from t", "DELETE FROM t", ok(100, 0, 5), ok(100, 0, 4));
  const s = c.summary(extra);
  assert.equal(s.commands, 104);
  const sel = s.fingerprints.find((f) => f.fingerprint === "select ?");
  assert.ok(sel);
  assert.equal(sel.count, 100);
  assert.ok(Math.abs(sel.source.p50 - 50_000) <= 100, String(sel.source.p50));
  assert.ok(Math.abs(sel.target.p99 - 198_000) <= 200, String(sel.target.p99));
  const t = s.fingerprints.find((f) => f.fingerprint === "select * from t");
  assert.deepEqual(t?.errorDiffs, [{ source: 0, target: 1146, count: 1 }]);
  assert.equal(t?.rowMismatches, 1);
  const same = s.fingerprints.find((f) => f.fingerprint === "select * from x");
  assert.deepEqual(same?.errorDiffs, [], "the same error on both sides is no difference");
  assert.deepEqual(s.differences, { errors: 1, affectedRows: 1, rows: 1 });
  assert.deepEqual(s.targetErrorsByCode, { "1146": 2 });
  assert.equal(s.commandsPerSecond, 104);
});

test("commands with no captured answer count on the target side only", () => {
  const c = new Comparison();
  c.record("select ?", "SELECT 1", undefined, ok(100, 1));
  const s = c.summary(extra);
  assert.equal(s.fingerprints[0]?.count, 1);
  assert.equal(s.fingerprints[0]?.source.p99, 0);
  assert.deepEqual(s.differences, { errors: 0, affectedRows: 0, rows: 0 });
});

test("the interval figures reset after each take", () => {
  const c = new Comparison();
  c.record("a", "a", undefined, ok(1000));
  c.record("a", "a", undefined, err(1064));
  const first = c.takeInterval();
  assert.equal(first.commands, 2);
  assert.deepEqual(first.errorsByCode, { "1064": 1 });
  assert.ok(first.p99Us >= 999);
  assert.equal(c.takeInterval().commands, 0);
});

test("text and HTML reports name the differences; HTML is self-contained with SVG bars", () => {
  const c = new Comparison();
  c.record("select * from t where id = ?", "SELECT * FROM t WHERE id = 1", ok(100, 1), err(1146));
  c.record("select <b>", "SELECT '<b>'", ok(100, 1), ok(300, 1));
  const s = c.summary(extra);
  const text = formatSummary(s);
  assert.match(text, /errno source ok -> target 1146: 1/);
  assert.match(text, /differences: 1 errors/);
  assert.match(text, /drift mean 0\.01ms max 20\.00ms p99 15\.00ms/);
  const html = renderHtml(s);
  assert.match(html, /<svg /);
  assert.match(html, /Drift mean 0\.01 ms, p99 15\.00 ms, max 20\.00 ms/);
  assert.equal((html.match(/<rect /g) ?? []).length, 8);
  assert.doesNotMatch(html, /<script|<link|src="http/);
  assert.match(html, /select &lt;b&gt;/);
  assert.doesNotMatch(html, /select <b>/);
});
