import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

// The README's main command runs this end to end; here it runs against its own sandboxes and its
// output is checked for what each stage must have produced.
test("sluice demo runs end to end: traffic digest, history of a row, the stream log", () => {
  const r = spawnSync(process.execPath, ["bin/sluice.js", "demo", "--rows", "40"], {
    encoding: "utf8",
    // The compiled CLI when it is built (as `bash scripts/run.sh demo` runs it), else the sources.
    env: { ...process.env, SLUICE_FROM_SOURCE: "" },
    timeout: 180_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  // Traffic: every command of the workload was captured and decoded (when tcpdump could run). On a
  // loaded machine the kernel may drop packets; then the loss must be reported as gaps, not hidden.
  const gaps = /# (\d+) resyncs, (\d+) gaps/.exec(out);
  if (!out.includes("skipping traffic capture")) assert.ok(gaps, "the digest reports resyncs and gaps");
  if (gaps && gaps[2] === "0") {
    assert.match(out, /\s40\s+[\d.]+ms\s+[\d.]+ms\s+[\d.]+ms\s+0\s+40\s+insert into shop\.users values/);
    assert.match(out, /\s50\s.*select name, tier from shop\.users where id=\?/);
  }
  // History: user 7 inserted, updated (two columns), deleted, in that order.
  const history = out.slice(out.indexOf("== 5."), out.indexOf("== 6."));
  const kinds = [...history.matchAll(/Z {2}(insert|update|delete) {2}/g)].map((m) => m[1]);
  assert.deepEqual(kinds, ["insert", "update", "delete"]);
  assert.match(history, /tier {3}'basic' -> 'gold'/);
  assert.match(history, /email {2}'user7@example.com' -> 'seven@example.com'/);
  // Stream log: the consumer group committed the 3 records it printed.
  assert.match(out, /group demo-consumer: committed 2, lag \d+/);
});
