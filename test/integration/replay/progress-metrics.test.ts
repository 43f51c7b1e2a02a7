import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import { waitFor } from "../wait.ts";
import { fixture, type Run, startCli as start } from "./cli-run.ts";
import { appendEvents, pcapEvents } from "./events.ts";

// The progress lines (text and JSON) and the Prometheus metrics of `sluice replay`, through the CLI.
// cli.pcap's one session lasts 18 ms as captured; at --speed 0.004 its replay lasts about 4.5 s.

const SLOW = ["--pcap", fixture("cli.pcap"), "--port", "44991", "--speed", "0.004"];

const until = <T>(what: string, run: Run, check: () => Promise<T | undefined>): Promise<T> =>
  waitFor(what, check, { detail: () => `stderr: ${run.stderr()}` });

/** The samples of a Prometheus text exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(run: Run): Promise<Map<string, number> | undefined> {
  const port = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(run.stderr())?.[1];
  if (port === undefined) return undefined;
  const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
  if (!res?.ok) return undefined;
  const s = samples(await res.text());
  // The replay's metrics appear once it has started.
  return s.has('sluice_replay_commands_total{outcome="ok"}') ? s : undefined;
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

let db: MariadbSandbox;
let dir: string;
before(async () => {
  db = await startMariadb();
  dir = mkdtempSync(join(tmpdir(), "sluice-replay-progress-"));
});
after(async () => {
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const PROGRESS =
  /^replay \d+s: \d+ cmd\/s, p50\/p95\/p99 [\d.]+\/[\d.]+\/[\d.]+ms, errors (?:0|\d+ \{.*\}) \(total (?:0|\d+ \{.*\})\), slow >1ms \d+ \(total \d+\)(?:, slowest [\d.]+ms \(source (?:[\d.]+|-)ms\) session \d+ seq \d+ .*)?, sessions open \d+ waiting \d+, scheduling lag \d+ms$/;

test("progress lines every second as text; the end report lists the slowest commands", async () => {
  const run = start(["replay", ...SLOW, "--target", db.url, "--progress-interval", "1", "--slow-ms", "1"]);
  const r = await run.done;
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("replay "));
  assert.ok(lines.length >= 1, r.stderr);
  for (const l of lines) assert.match(l, PROGRESS);
  assert.match(r.stdout, /^replayed \d+ commands/);
  assert.match(r.stdout, /drift mean -?[\d.]+ms max -?[\d.]+ms/);
  assert.match(r.stdout, /slow commands \(over 1ms on the target\): \d+; the \d+ slowest:/);
});

test("progress lines as JSON with --json (and --log-format json): consistent with the end report", async () => {
  for (const flag of [["--json"], ["--log-format", "json"]]) {
    const args = ["replay", ...SLOW, "--target", db.url, "--progress-interval", "1", "--slow-ms", "1"];
    const run = start(flag[0] === "--json" ? [...args, "--json"] : [...flag, ...args]);
    const r = await run.done;
    assert.equal(r.status, 0, r.stderr);
    const progress = r.stderr
      .split("\n")
      .filter((l) => l.includes('"progress"'))
      .map((l) => JSON.parse(l).progress);
    assert.ok(progress.length >= 1, r.stderr);
    let slowTotal = 0;
    let errorsTotal = 0;
    let commands = 0;
    for (const p of progress) {
      for (const k of ["elapsedMs", "commands", "commandsPerSecond", "p50Us", "p95Us", "p99Us", "lagMs"])
        assert.equal(typeof p[k], "number", k);
      assert.ok(p.p50Us <= p.p95Us && p.p95Us <= p.p99Us, JSON.stringify(p));
      assert.equal(p.slowMs, 1);
      assert.ok(p.slow <= p.commands && p.slowTotal >= slowTotal + p.slow, JSON.stringify(p));
      assert.ok(sum(p.errorsTotalByCode) >= errorsTotal + sum(p.errorsByCode), JSON.stringify(p));
      if (p.commands > 0) assert.equal(typeof p.slowest.seq, "number");
      assert.equal(p.behindCaptureMs, undefined, "not a live replay");
      slowTotal = p.slowTotal;
      errorsTotal = sum(p.errorsTotalByCode);
      commands += p.commands;
    }
    if (flag[0] === "--json") {
      const summary = JSON.parse(r.stdout);
      assert.ok(commands <= summary.commands);
      assert.ok(slowTotal <= summary.slow.count);
      assert.ok(errorsTotal <= sum(summary.targetErrorsByCode));
      assert.deepEqual(summary.targetErrorsByCode, { "1146": 1 }, "SELECT * FROM no_such_table");
      assert.equal(summary.slow.thresholdMs, 1);
      assert.ok(summary.slow.slowest.length >= 1 && summary.slow.slowest.length <= 10);
      for (const c of summary.slow.slowest) {
        assert.equal(typeof c.session, "number");
        assert.equal(typeof c.seq, "number");
        assert.equal(typeof c.targetUs, "number");
        assert.equal(typeof c.fingerprint, "string");
      }
    }
  }
});

test("--metrics-port: a scrape during a replay shows the replay's metrics", async () => {
  const run = start(["--metrics-port", "0", "replay", ...SLOW, "--target", db.url, "--json"]);
  const s = await until("a scrape with the replay's metrics", run, () => scrape(run));
  for (const outcome of ["ok", "error", "skipped", "filtered"])
    assert.ok(s.has(`sluice_replay_commands_total{outcome="${outcome}"}`), outcome);
  for (const state of ["open", "waiting"])
    assert.ok(s.has(`sluice_replay_sessions{state="${state}"}`), state);
  for (const q of ["0.5", "0.95", "0.99", "0.999", "1"])
    assert.ok(s.has(`sluice_replay_target_latency_seconds{quantile="${q}"}`), q);
  assert.ok(s.has("sluice_replay_scheduling_lag_seconds"));
  assert.ok(s.has("sluice_replay_slow_commands_total"));
  assert.ok(!s.has("sluice_replay_behind_capture_seconds"), "only with --follow");
  const r = await run.done;
  assert.equal(r.status, 0, r.stderr);
});

test("--metrics-port with --follow: at the head the counters equal the report, behind the capture 0", async () => {
  const events = await pcapEvents("cli.pcap");
  const url = `file:${join(dir, "follow.db")}`;
  const log = await openStreamLog(url);
  await appendEvents(log, "capture", events);
  const run = start([
    "--metrics-port",
    "0",
    "replay",
    "--from",
    url,
    "--group",
    "metrics",
    "--follow",
    "--target",
    db.url,
    "--speed",
    "max",
    "--json",
    "--progress-interval",
    "1",
  ]);
  try {
    // Everything committed, and a scrape after that.
    await until("everything committed", run, async () => {
      const info = await log.info("capture");
      return info.groups.find((g) => g.group === "metrics")?.lag === 0 ? true : undefined;
    });
    const s = await until("a scrape with the replay's metrics", run, () => scrape(run));
    await until("a progress line", run, async () => (run.stderr().includes('"progress"') ? true : undefined));
    run.child.kill("SIGINT");
    const r = await run.done;
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    const v = (k: string) => s.get(k) ?? Number.NaN;
    assert.equal(
      v('sluice_replay_commands_total{outcome="ok"}') + v('sluice_replay_commands_total{outcome="error"}'),
      summary.commands,
    );
    assert.equal(v('sluice_replay_commands_total{outcome="skipped"}'), summary.skipped);
    assert.equal(v('sluice_replay_commands_total{outcome="filtered"}'), summary.filtered);
    for (const [code, n] of Object.entries(summary.targetErrorsByCode))
      assert.equal(v(`sluice_replay_errors_total{code="${code}"}`), n, code);
    assert.equal(v('sluice_replay_commands_total{outcome="error"}'), sum(summary.targetErrorsByCode));
    assert.equal(v("sluice_replay_slow_commands_total"), summary.slow.count);
    assert.equal(v("sluice_replay_uncommitted_records"), 0);
    assert.equal(v("sluice_replay_behind_capture_seconds"), 0, "nothing left to replay");
    const progress = r.stderr
      .split("\n")
      .filter((l) => l.includes('"progress"'))
      .map((l) => JSON.parse(l).progress);
    assert.ok(progress.length >= 1);
    for (const p of progress) {
      assert.equal(typeof p.behindCaptureMs, "number", JSON.stringify(p));
      assert.equal(typeof p.uncommittedRecords, "number", JSON.stringify(p));
    }
  } finally {
    if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await log.close();
  }
});
