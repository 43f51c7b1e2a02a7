import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AFTER_TIMING_ERRNOS, missingTools, TIMING_ERRNOS } from "../../../src/replay/rehearsal.ts";

// The README's main command runs this end to end; here it runs against its own sandboxes and its
// output is checked for what each stage must have produced.
const dir = mkdtempSync(join(tmpdir(), "sluice-demo-test-"));
let r: SpawnSyncReturns<string>;

before(() => {
  r = spawnSync(process.execPath, ["bin/sluice.js", "demo", "--rows", "40", "--dir", dir], {
    encoding: "utf8",
    // The compiled CLI when it is built (as `bash scripts/run.sh demo` runs it), else the sources.
    env: { ...process.env, SLUICE_FROM_SOURCE: "" },
    timeout: 240_000,
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));

test("sluice demo runs end to end: traffic digest, history of a row, the stream log", () => {
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

/** Tags balance (void and self-closed elements aside), and no stray `<` or `>` outside tags. */
function assertWellFormedHtml(html: string): void {
  assert.match(html, /^<!doctype html>\n<html>/);
  const VOID = new Set(["meta", "br", "hr", "img", "input", "link"]);
  const stack: string[] = [];
  let last = html.indexOf("<html>");
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g;
  tag.lastIndex = last;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    const between = html.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray < or > before offset ${m.index}: ${between.slice(0, 80)}`);
    last = m.index + m[0].length;
    const [, closing, name = "", , selfClosed] = m;
    if (selfClosed || VOID.has(name.toLowerCase())) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> at offset ${m.index} closes what is open`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], "every element is closed");
  assert.equal(html.slice(last).trim(), "", "nothing after </html>");
}

const missing = missingTools();
test("sluice demo's upgrade rehearsal: every captured session and answered command replayed, the same answers on the same data", {
  skip: missing.length > 0 ? `${missing.join(", ")} not installed: the demo skips its rehearsal` : false,
}, () => {
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.slice(r.stdout.indexOf("== 7. Upgrade rehearsal"), r.stdout.indexOf("== Done"));
  assert.ok(out.length > 0, "the demo has the rehearsal step");
  // Every step shows the command it runs.
  assert.match(out, /^\$ sysbench oltp_read_write .* prepare$/m);
  assert.match(out, /^\$ mariadb-dump .*--single-transaction.* \| mariadb /m);
  assert.match(out, /^\$ sluice capture -i lo --filter 'tcp port \d+' --to file:\S+capture\.db/m);
  assert.match(out, /^\$ sysbench oltp_read_write .*--threads=4 .* run$/m);
  assert.match(out, /^\$ sluice replay --from file:\S+capture\.db .*--speed 1 .*--html \S+replay\.html$/m);
  // The copy holds the same rows.
  assert.match(out, /CHECKSUM TABLE sbtest1: source (\d+), target \1 \(the same rows\)/);

  // What the capture holds, as the demo counted it from the stream log.
  const captured =
    /Check: captured (\d+) sessions, (\d+) commands \((.*?)\); (\d+) of them answered by the source/.exec(
      out,
    );
  assert.ok(captured, "the check line");
  const byKind = new Map(
    captured[3]!.split(", ").map((p) => {
      const [n, kind] = p.split(" ");
      return [kind!, Number(n)];
    }),
  );
  const sessions = Number(captured[1]);
  assert.equal(sessions, 4, "one session per sysbench thread");
  const sb = /sysbench: (\d+) transactions \([\d.]+\/s\), (\d+) queries/.exec(out);
  assert.ok(sb);
  // sysbench counts its statements; each is one execute of a prepared statement.
  assert.equal(byKind.get("stmt_execute"), Number(sb[2]));
  assert.equal(byKind.get("quit"), sessions);
  const answered = Number(captured[4]);
  assert.equal(answered, Number(captured[2]) - (byKind.get("stmt_close") ?? 0) - (byKind.get("quit") ?? 0));

  // The replay's own report: every session, every answered command, nothing skipped or filtered.
  const head =
    /^replayed (\d+) commands in (\d+) sessions in [\d.]+s \(\d+\/s\); skipped (\d+), filtered out (\d+)$/m.exec(
      out,
    );
  assert.ok(head, "the replay report");
  assert.equal(Number(head[2]), sessions);
  assert.equal(Number(head[1]), answered);
  assert.equal(head[3], "0");
  assert.equal(head[4], "0");

  // Same data, captured order: the same answers. The one documented exception is timing between
  // concurrent transactions: a deadlock or lock wait timeout (1213, 1205) on one side only, and what
  // follows from it (sysbench restarts the transaction without a ROLLBACK, so the other side commits
  // half of it: later reads count a row less, later writes of it match nothing; after a deadlock on the
  // target the rest of the transaction runs outside one there, and its INSERT can hit a duplicate key).
  const table = [...out.matchAll(/^\s*(\d+)\s+\S+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+) {2}(.+)$/gm)];
  assert.equal(
    table.reduce((n, m) => n + Number(m[1]), 0),
    answered,
    "the fingerprint rows add up to the commands",
  );
  const pairs = [...out.matchAll(/errno source (\w+) -> target (\w+): \d+/g)].map(([, a, b]) =>
    [a, b].map((e) => (e === "ok" ? 0 : Number(e))),
  );
  const timing = pairs.some((errnos) => errnos.some((e) => TIMING_ERRNOS.has(e)));
  for (const errnos of pairs) {
    assert.ok(
      errnos.every((e) => e === 0 || TIMING_ERRNOS.has(e) || (timing && AFTER_TIMING_ERRNOS.has(e))),
      `an error difference that timing does not explain: ${errnos.join(" -> ")}`,
    );
  }
  const summary = /^differences: (\d+) errors, (\d+) affected-row, (\d+) result-row mismatches$/m.exec(out);
  assert.ok(summary);
  const deadlocks = summary[1] !== "0";
  if (!deadlocks) {
    assert.deepEqual([summary[2], summary[3]], ["0", "0"], "no mismatches without a deadlock on one side");
    assert.match(out, /Per command: 0 error differences, 0 affected-row and 0 result-row mismatches/);
  } else {
    assert.match(out, /Why: concurrent transactions deadlock or not depending on timing/);
    for (const [side, errnos] of [
      ["source", pairs.map((p) => p[0])],
      ["target", pairs.map((p) => p[1])],
    ] as const)
      if (errnos.some((e) => e !== undefined && TIMING_ERRNOS.has(e)))
        assert.match(out, new RegExp(`Deadlocked on the ${side}: `));
  }

  // End state: any row that differs was written by two or more sessions (their order is not replayed).
  const end = /End state: .*; (\d+) of (\d+) rows differ/.exec(out);
  assert.ok(end, "the end-state comparison");
  assert.equal(end[2], "10000");
  if (end[1] !== "0") {
    const why =
      /Of the \d+ rows sysbench wrote, \d+ were written by two or more sessions; (\d+) of those differ, and (\d+) of the rows written by one session only/.exec(
        out,
      );
    assert.ok(why, "differing rows are explained");
    if (!deadlocks) {
      assert.equal(why[2], "0", "no row written by one session only differs");
      assert.equal(why[1], end[1]);
    }
  }

  // The HTML report: written to the demo directory, well-formed, one table row per fingerprint.
  const htmlFile = /^HTML report: (\S+)$/m.exec(out)?.[1];
  assert.equal(htmlFile, join(dir, "replay.html"));
  assert.ok(existsSync(htmlFile));
  const html = readFileSync(htmlFile, "utf8");
  assertWellFormedHtml(html);
  // The fingerprint table (the page also lists the slowest commands and plans in tables of their own).
  const byFingerprint = /<table><tr><th>count<\/th>[\s\S]*?<\/table>/.exec(html)?.[0];
  assert.ok(byFingerprint, "the table by fingerprint");
  assert.equal([...byFingerprint.matchAll(/<tr(?: class="diff")?><td>/g)].length, table.length);
  assert.match(html, new RegExp(`<p>${answered} commands, ${sessions} sessions,`));
});
