/**
 * Memory of an endless `sluice replay --follow`: synthetic sessions (connect, COMMANDS queries with
 * their responses, quit, close) are appended to a SQLite stream log in batches while `sluice replay
 * --from file:LOG --follow --speed max` (the compiled CLI, its own process) plays them on a sandboxed
 * MariaDB. Its resident set and V8 heap are read from its own `--metrics-port` (prom-client's process
 * and heap gauges) every SAMPLE_MS. The heap figure per quarter of the run is its lowest sample there,
 * which approaches what survives garbage collection (what the run retains) rather than garbage not yet
 * collected.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { SessionEvent } from "../src/capture/events.ts";
import { eventRecord } from "../src/capture/publish.ts";
import { startMariadb } from "../src/sandbox/index.ts";
import { openStreamLog, type StreamLog } from "../src/stream/index.ts";
import { type Run, startCli } from "../test/integration/replay/cli-run.ts";
import { connectEvent, resultsetResponse } from "../test/integration/replay/events.ts";
import { compiledCli } from "./compile-cli.ts";
import type { BenchModule } from "./types.ts";

const COMMANDS = 10;
const SAMPLE_MS = 250;
/** Sessions appended per batch (one append, one SQLite transaction). */
const BATCH_SESSIONS = 200;

/** One session's events: a connect, COMMANDS queries (each with its response), a quit and the close. */
function sessionEvents(session: number, ts: number): SessionEvent[] {
  const events: SessionEvent[] = [connectEvent(session, ts, "bench")];
  for (let seq = 1; seq <= COMMANDS; seq++) {
    events.push({
      type: "command",
      session,
      seq,
      ts: ts + seq * 2,
      kind: "query",
      sql: `SELECT ${session} AS session, ${seq} AS seq, 'a literal that makes the statement longer' AS pad`,
      db: "bench",
    });
    events.push(resultsetResponse(session, seq, ts + seq * 2 + 1, 1, 80));
  }
  events.push({
    type: "command",
    session,
    seq: COMMANDS + 1,
    ts: ts + 2 * COMMANDS + 2,
    kind: "quit",
    db: "bench",
  });
  events.push({ type: "close", session, ts: ts + 2 * COMMANDS + 3, reason: "fin", commands: COMMANDS + 1 });
  return events;
}

/** A gauge without labels from a Prometheus text exposition. */
const gauge = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

interface Sample {
  /** Fraction of the sessions appended when taken (0..1). */
  appended: number;
  rss: number;
  heapUsed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => (b / 2 ** 20).toFixed(1);

async function lagOf(log: StreamLog, group: string): Promise<number | undefined> {
  return (await log.info("capture")).groups.find((g) => g.group === group)?.lag;
}

export interface FollowMemory {
  sessions: number;
  seconds: number;
  samples: Sample[];
  /**
   * The lowest heap sample and the highest RSS in each quarter of the run (by sessions appended). Once
   * everything is played the process allocates next to nothing, so nothing collects what the last
   * sessions left: samples then would show garbage, not what is retained.
   */
  quarters: { heapMin: number; rssMax: number }[];
  summary: string;
}

/** Runs one measurement: `sessions` sessions appended while `replay --follow` plays them. */
export async function followMemory(sessions: number): Promise<FollowMemory> {
  const cli = compiledCli("replay-follow");
  if (!cli) throw new Error("the CLI does not build (npm run build shows why)");
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-follow-"));
  const db = await startMariadb({ name: "bench-follow-memory" });
  const url = `file:${join(dir, "log.db")}`;
  const log = await openStreamLog(url);
  const group = "bench";
  let run: Run | undefined;
  try {
    await db.query("CREATE DATABASE IF NOT EXISTS bench");
    const producer = await log.producer("capture");
    const args = `--metrics-port 0 replay --group ${group} --follow --speed max --progress-interval 0 --json`;
    run = startCli([...args.split(" "), "--from", url, "--target", db.url], { cli });
    const { child } = run;
    const stderr = run.stderr;
    let port: string | undefined;
    for (let i = 0; port === undefined; i++) {
      port = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stderr())?.[1];
      if (child.exitCode !== null || i > 1200) throw new Error(`replay did not start: ${stderr()}`);
      await sleep(50);
    }
    let appended = 0;
    const taken: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
        if (res?.ok) {
          const text = await res.text();
          const rss = gauge(text, "sluice_process_resident_memory_bytes");
          const heapUsed = gauge(text, "sluice_nodejs_heap_size_used_bytes");
          if (rss !== undefined && heapUsed !== undefined)
            taken.push({
              appended: appended / sessions,
              rss,
              heapUsed,
            });
        }
        await sleep(SAMPLE_MS);
      }
    })();
    const t0 = Date.now();
    let ts = 1_000_000_000_000;
    for (let s = 1; s <= sessions; s += BATCH_SESSIONS) {
      const events: SessionEvent[] = [];
      for (let k = s; k < Math.min(sessions + 1, s + BATCH_SESSIONS); k++) {
        events.push(...sessionEvents(k, ts));
        ts += 100;
      }
      await producer.append(events.map(eventRecord));
      appended = Math.min(sessions, s + BATCH_SESSIONS - 1);
      // The capture's pace: the replay keeps up (a backlog would measure the backlog, not the retention).
      for (let i = 0; ; i++) {
        const lag = await lagOf(log, group);
        if ((lag !== undefined && lag < BATCH_SESSIONS * (2 * COMMANDS + 3)) || i > 6000) break;
        await sleep(20);
      }
    }
    await producer.close();
    for (let i = 0; (await lagOf(log, group)) !== 0; i++) {
      if (child.exitCode !== null || i > 30_000) throw new Error(`replay never caught up: ${stderr()}`);
      await sleep(20);
    }
    const seconds = (Date.now() - t0) / 1000;
    sampling = false;
    await sampler;
    child.kill("SIGINT");
    const { stdout } = await run.done;
    const quarters = [0, 1, 2, 3].map((q) => {
      const inQ = taken.filter((s) => s.appended > q / 4 && s.appended <= (q + 1) / 4);
      return {
        heapMin: Math.min(...inQ.map((s) => s.heapUsed)),
        rssMax: Math.max(...inQ.map((s) => s.rss)),
      };
    });
    return { sessions, seconds, samples: taken, quarters, summary: stdout.trim() };
  } finally {
    if (run && run.child.exitCode === null) run.child.kill("SIGKILL");
    await log.close();
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const bench: BenchModule = {
  name: "replay-follow-memory",
  async run({ quick }) {
    const sessions = quick ? 2000 : 20_000;
    const load = loadavg()[0] ?? 0;
    const m = await followMemory(sessions);
    const commands = (m.summary && (JSON.parse(m.summary) as { commands?: number }).commands) ?? 0;
    console.error(JSON.stringify({ ...m, samples: m.samples.length }));
    const row = (label: string, x: { heapMin: number; rssMax: number }) =>
      `| ${label} | ${mib(x.heapMin)} | ${mib(x.rssMax)} |`;
    const markdown = `${sessions.toLocaleString("en-US")} synthetic sessions (connect, ${COMMANDS} \`SELECT\`s with their responses, quit, close) appended to a SQLite stream log (\`file:\`) in batches of ${BATCH_SESSIONS} sessions, each batch once the replay is less than one batch behind, while \`sluice --metrics-port 0 replay --from file:LOG --follow --speed max --target URL\` (the compiled CLI, its own process) plays them on a sandboxed MariaDB; ${commands.toLocaleString("en-US")} commands compared in ${m.seconds.toFixed(1)} s. Resident set and V8 heap used from its \`/metrics\` every ${SAMPLE_MS} ms (${m.samples.length} samples); heap is the lowest sample in each part of the run (close to what outlives garbage collection), RSS the highest. Load average when the run began: ${load.toFixed(1)}.

| sessions appended | heap used (MiB, lowest) | RSS (MiB, highest) |
|---|---|---|
${m.quarters.map((q, i) => row(`${(i * sessions) / 4}..${((i + 1) * sessions) / 4}`, q)).join("\n")}`;
    return {
      title: "Replay --follow: memory over an endless run",
      command: `npm run bench -- replay-follow-memory${quick ? " --quick" : ""}`,
      markdown,
    };
  },
};

export default bench;
