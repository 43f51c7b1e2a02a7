/**
 * Replay throughput and pacing, on a real capture: sysbench oltp_read_write (4 threads) runs on a
 * sandboxed source while `sluice capture -i lo --to file:LOG` records it, once at a fixed --rate and
 * once unthrottled; each capture is then replayed on a sandboxed target holding the source's rows as
 * they were before the run (mariadb-dump --single-transaction, loaded again before every replay):
 * (a) at 1x: commands/s against the captured rate, and how late commands were sent (drift mean, p99,
 *     max); (b) at max speed: commands/s and how many times the captured rate.
 * sysbench's own tps/qps on the source, measured in the same run, are the reference.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type BatchOptions, DEFAULT_BATCH } from "../src/replay/batch.ts";
import { type ReplayOptions, replaySessions } from "../src/replay/player.ts";
import {
  analyseCapture,
  type CaptureTotals,
  compareEndState,
  dumpToFile,
  loadDump,
  missingTools,
  parseSysbenchRun,
  prepareSysbench,
  type SysbenchResult,
  type SysbenchSetup,
  startCaptureProcess,
  sysbench,
} from "../src/replay/rehearsal.ts";
import type { ReplaySummary } from "../src/replay/report.ts";
import type { SessionPlan, Speed } from "../src/replay/scheduler.ts";
import { plansFromStream, streamProgress } from "../src/replay/source.ts";
import { type MariadbSandbox, startMariadb } from "../src/sandbox/index.ts";
import { openStreamLog } from "../src/stream/index.ts";
import { compiledCli } from "./compile-cli.ts";
import type { BenchModule } from "./types.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const THREADS = 4;
const RATE = 100;

async function readPlans(log: string, group: string): Promise<SessionPlan[]> {
  const stream = await openStreamLog(log);
  try {
    return (await plansFromStream(stream, "capture", group, "max")).plans;
  } finally {
    await stream.close();
  }
}

/**
 * How a replay writes its progress back: `batched` as `sluice replay --from LOG --group G` does by
 * default (journal and committed position in batches, DEFAULT_BATCH), `each` as with `--commit-batch 1`
 * (every command journalled and committed before its session sends the next, as every run did before
 * batching), `none` writes nothing back (as a `--pcap` replay).
 */
type Progress = "batched" | "each" | "none";

const BATCHES: Record<Exclude<Progress, "none">, BatchOptions> = {
  batched: DEFAULT_BATCH,
  each: { intervalMs: DEFAULT_BATCH.intervalMs, maxCommands: 1 },
};

/** One replay from the stream log as `sluice replay --from LOG --group G` runs it (streamProgress, as the CLI). */
async function replayLog(log: string, group: string, speed: Speed, target: string, progress: Progress) {
  const stream = await openStreamLog(log);
  try {
    const read = await plansFromStream(stream, "capture", group, speed);
    const options: ReplayOptions = { target, speed };
    const p =
      progress === "none" || read.lastOffset === undefined
        ? undefined
        : await streamProgress(
            stream,
            "capture",
            group,
            { plans: read.plans, lastOffset: read.lastOffset },
            BATCHES[progress],
          );
    if (p) options.onDone = (c) => (c.offset === undefined ? undefined : p.done(c.offset));
    try {
      const { summary } = await replaySessions(read.plans, options);
      await p?.flush();
      return summary;
    } finally {
      await p?.close();
    }
  } finally {
    await stream.close();
  }
}

function errorPairs(s: ReplaySummary): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of s.fingerprints)
    for (const d of f.errorDiffs) {
      const k = `${d.source || "ok"} -> ${d.target || "ok"}`;
      out.set(k, (out.get(k) ?? 0) + d.count);
    }
  return out;
}

interface Replayed {
  speed: Speed;
  progress: Progress;
  seconds: number;
  /** CPU time of the replaying process (user + system) during the replay. */
  cpuSeconds: number;
  commands: number;
  commandsPerSecond: number;
  drift: { meanMs: number; p99Ms: number; maxMs: number };
  differences: { errors: number; affectedRows: number; rows: number };
  /** "source errno -> target errno" (ok for none) -> count. */
  errorPairs: Map<string, number>;
  endRowsDiffering: number;
}

interface Scenario {
  label: string;
  sysbench: SysbenchResult;
  capture: CaptureTotals;
  sessions: number;
  commands: number;
  answered: number;
  spanSeconds: number;
  capturedRate: number;
  replays: Replayed[];
}

async function scenario(
  label: string,
  throttle: string[],
  seconds: number,
  cli: string,
  dir: string,
  source: MariadbSandbox,
  target: MariadbSandbox,
  setup: SysbenchSetup,
): Promise<Scenario> {
  const snapshot = join(dir, `${label}.sql`);
  await dumpToFile(source.port, setup.db, snapshot);
  const log = `file:${join(dir, `${label}.db`)}`;
  // A 128 MiB kernel buffer: unthrottled sysbench on 2 cores otherwise costs kernel drops.
  const capture = await startCaptureProcess(cli, source.port, log, ["--buffer-kib", "131072"]);
  const sb = parseSysbenchRun(
    await sysbench(setup, [`--threads=${THREADS}`, `--time=${seconds}`, ...throttle, "run"]),
  );
  const totals = await capture.stop();
  const traffic = analyseCapture(await readPlans(log, "bench-count"));
  const spanSeconds = traffic.spanUs / 1e6;
  const replays: Replayed[] = [];
  const runs: [Speed, Progress][] = [
    [1, "batched"],
    ["max", "batched"],
    [1, "none"],
    ["max", "none"],
    ["max", "each"],
  ];
  for (const [speed, progress] of runs) {
    await loadDump(target.port, snapshot);
    const cpu = process.cpuUsage();
    const s: ReplaySummary = await replayLog(log, `bench-${speed}-${progress}`, speed, target.url, progress);
    const used = process.cpuUsage(cpu);
    const end = await compareEndState(source, target, setup);
    replays.push({
      speed,
      progress,
      seconds: s.elapsedMs / 1000,
      cpuSeconds: (used.user + used.system) / 1e6,
      commands: s.commands,
      commandsPerSecond: s.commandsPerSecond,
      drift: {
        meanMs: s.drift.meanUs / 1000,
        p99Ms: s.drift.p99Us / 1000,
        maxMs: s.drift.maxUs / 1000,
      },
      differences: s.differences,
      errorPairs: errorPairs(s),
      endRowsDiffering: end.differing.length,
    });
    console.error(
      `${label} ${speed} ${progress}: ${JSON.stringify({ ...replays.at(-1), errorPairs: [...errorPairs(s)] })}`,
    );
  }
  return {
    label,
    sysbench: sb,
    capture: totals,
    sessions: traffic.sessions,
    commands: traffic.commands,
    answered: traffic.answered,
    spanSeconds,
    capturedRate: traffic.answered / spanSeconds,
    replays,
  };
}

const PROGRESS_LABEL: Record<Progress, string> = {
  batched: "",
  each: ", per command",
  none: ", no commits",
};

const f0 = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

const bench: BenchModule = {
  name: "replay",
  async run({ quick }) {
    const missing = missingTools();
    if (missing.length > 0)
      throw new Error(`the replay bench needs ${missing.join(", ")} (apt-get install -y ...)`);
    const seconds = quick ? 3 : 10;
    const cli = compiledCli("replay") ?? join(ROOT, "bin/sluice.js");
    const dir = mkdtempSync(join(tmpdir(), "sluice-bench-replay-"));
    const load = loadavg()[0] ?? 0;
    const source = await startMariadb({ name: "bench-replay-source" });
    const target = await startMariadb({ name: "bench-replay-target" });
    const setup: SysbenchSetup = { port: source.port, db: "sbtest", tables: 1, tableSize: 10_000 };
    const runs: Scenario[] = [];
    try {
      await prepareSysbench(source, setup);
      runs.push(await scenario(`rate${RATE}`, [`--rate=${RATE}`], seconds, cli, dir, source, target, setup));
      runs.push(await scenario("unthrottled", [], seconds, cli, dir, source, target, setup));
    } finally {
      await Promise.all([source.stop(), target.stop()]);
      rmSync(dir, { recursive: true, force: true });
    }

    const captureRows = runs.map((r) => {
      const lost = ["kernelDropped", "gaps", "queueDropped"].map((k) => `${k} ${r.capture.stats[k] ?? "?"}`);
      return `| sysbench ${r.label === "unthrottled" ? "unthrottled" : `--rate=${RATE}`} | ${f0(r.sysbench.tps)} / ${f0(r.sysbench.qps)} | ${r.sysbench.ignoredErrors} | ${r.sessions} sessions, ${f0(r.commands)} commands (${f0(r.answered)} answered) over ${f2(r.spanSeconds)} s | ${f0(r.capturedRate)} | ${lost.join(", ")} |`;
    });
    const replayRows = runs.flatMap((r) =>
      r.replays.map((p) => {
        const d = p.differences;
        const drift =
          p.speed === "max" ? "n/a" : `${f1(p.drift.meanMs)} / ${f1(p.drift.p99Ms)} / ${f1(p.drift.maxMs)}`;
        return `| ${r.label} | ${p.speed === "max" ? "max" : "1x"}${PROGRESS_LABEL[p.progress]} | ${f2(p.seconds)} s | ${f2(p.cpuSeconds)} s | ${f0(p.commandsPerSecond)} | ${f2(p.commandsPerSecond / r.capturedRate)}x | ${f2(p.commandsPerSecond / r.sysbench.qps)}x | ${drift} | ${d.errors}${p.errorPairs.size ? ` (${[...p.errorPairs].map(([k, n]) => `${k}: ${n}`).join(", ")})` : ""} / ${d.affectedRows} / ${d.rows} | ${p.endRowsDiffering} |`;
      }),
    );
    const throttled = runs[0]!;
    const free = runs[1]!;
    const keepsUp = throttled.replays[0]!;
    const maxFree = free.replays[1]!;
    const maxFreeNoCommit = free.replays[3]!;
    const maxFreeEach = free.replays[4]!;
    const maxThrottledEach = throttled.replays[4]!;
    const freePaced = free.replays[0]!;
    const paced = throttled.replays[2]!;
    const markdown = `sysbench oltp_read_write, ${THREADS} threads, ${seconds} s, 1 table of 10,000 rows, on a sandboxed source while \`sluice capture -i lo --filter 'tcp port P' --to file:LOG --buffer-kib 131072\` (the compiled CLI, its own process) records it; each capture is replayed in the bench's process as \`sluice replay --from file:LOG --group G\` replays it (\`replaySessions\` with \`streamProgress\`: the journal of replayed commands and the group's position written in batches, the CLI's defaults; "no commits": nothing written back, as a \`--pcap\` replay) on a sandboxed target loaded with \`mariadb-dump --single-transaction\` of the source taken just before the run (loaded again before each replay). Load average when the run began: ${load.toFixed(1)}.

| capture | sysbench on the source, tps / qps | sysbench ignored errors | captured | captured answered commands/s | lost |
|---|---|---|---|---|---|
${captureRows.join("\n")}

| capture | replay speed | wall time | replayer CPU | commands/s | vs captured rate | vs sysbench qps | drift mean / p99 / max (ms) | differences: errors / affected / rows | end-state rows differing (of 10,000) |
|---|---|---|---|---|---|---|---|---|---|
${replayRows.join("\n")}

- At --rate=${RATE} the capture runs at ${f0(throttled.capturedRate)} commands/s; replayed at 1x it took ${f2(keepsUp.seconds)} s for ${f2(throttled.spanSeconds)} s of traffic (${f2(keepsUp.seconds / throttled.spanSeconds)}x), drift p99 ${f1(keepsUp.drift.p99Ms)} ms; without commits, drift p99 ${f1(paced.drift.p99Ms)} ms.
- Unthrottled, sysbench ran ${f0(free.sysbench.qps)} queries/s on the source; replayed at 1x it took ${f2(freePaced.seconds)} s for ${f2(free.spanSeconds)} s of traffic (drift p99 ${f1(freePaced.drift.p99Ms)} ms), and at max speed it reached ${f0(maxFree.commandsPerSecond)} commands/s, ${f2(maxFree.commandsPerSecond / free.capturedRate)}x the captured rate${maxFree.commandsPerSecond < free.capturedRate ? ", so at 1x it falls behind (drift grows through the run) instead of pacing" : ", so at 1x it can pace the capture"}. Writing nothing back (as a \`--pcap\` replay runs) it reached ${f0(maxFreeNoCommit.commandsPerSecond)} commands/s (${f2(maxFreeNoCommit.commandsPerSecond / free.capturedRate)}x).
- "per command" is \`--commit-batch 1\`: every completed command journalled and committed (two SQLite transactions, \`synchronous=FULL\`, on the event loop) before its session sends the next, as every replay from the stream log did before the batches: ${f0(maxFreeEach.commandsPerSecond)} commands/s at max speed on the unthrottled capture (${f0(maxThrottledEach.commandsPerSecond)} on the throttled one), against ${f0(maxFree.commandsPerSecond)} with the default batches (${DEFAULT_BATCH.intervalMs} ms or half of ${DEFAULT_BATCH.maxCommands} commands waiting, whichever comes first).
- "commands" are the commands compared (prepares and executes; COM_STMT_CLOSE and COM_QUIT are sent but have no answer to compare). Drift is the send time minus the planned time of each command, sampled at 1x only. End-state rows differing: rows of sbtest1 whose values differ between source and target after the replay; they are rows that two sessions wrote close together, whose lock order the replay does not reproduce. Error differences are deadlocks (1213) on one side only: the side that deadlocks rolls the transaction back, and sysbench restarts it with BEGIN and no ROLLBACK, which on the other side commits the half transaction (a DELETE without its INSERT); later range reads there count a row less (result-row mismatches) and later writes of it match no row (affected-row mismatches); after a deadlock on the target the rest of the source's transaction runs outside a transaction there, and its INSERT of the row whose DELETE was rolled back fails with a duplicate key (1062). See docs/replay.md.`;
    return {
      title: "Replay: a live sysbench capture played back at 1x and at max speed",
      command: `npm run bench -- replay${quick ? " --quick" : ""}`,
      markdown,
    };
  },
};

export default bench;
