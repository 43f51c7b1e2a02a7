import { Counter, Gauge } from "prom-client";
import { metricsRegistry } from "../core/metrics.ts";
import type { ReplayStatus } from "./player.ts";

/**
 * The replay's figures as Prometheus metrics (`--metrics-port`), read from the running replay whenever
 * it is scraped (no per-command cost beyond the replay's own counters and latency histogram):
 *
 * - `sluice_replay_commands_total{outcome="ok"|"error"|"skipped"|"filtered"}`: ok + error is the end
 *   report's `commands` (commands answered by the target);
 * - `sluice_replay_errors_total{code}`: target errors by errno;
 * - `sluice_replay_slow_commands_total`: commands slower than `--slow-ms` on the target;
 * - `sluice_replay_sessions{state="open"|"waiting"}`: target connections open, sessions waiting for one;
 * - `sluice_replay_scheduling_lag_seconds`: how late the latest command was sent after its planned time;
 * - `sluice_replay_target_latency_seconds{quantile="0.5"|"0.95"|"0.99"|"0.999"|"1"}`: the target
 *   latency of every command so far, from the replay's HdrHistogram (1 = max; a gauge, not a summary:
 *   the count is the ok + error commands);
 * - with `--follow`: `sluice_replay_behind_capture_seconds` (now minus the capture time of the newest
 *   command done, 0 once everything is committed) and `sluice_replay_uncommitted_records` (stream log
 *   head minus the group's committed position).
 */
let source: (() => Promise<ReplayStatus>) | undefined;
/** One read per scrape: every metric's collect() starts in the same turn of the event loop. */
let reading: Promise<ReplayStatus> | undefined;
let registered = false;
const QUANTILES = ["0.5", "0.95", "0.99", "0.999", "1"];
let registeredLive = false;

function status(): Promise<ReplayStatus> | undefined {
  if (!source) return undefined;
  if (!reading) {
    reading = source();
    setImmediate(() => {
      reading = undefined;
    });
  }
  return reading;
}

/** `live`: a replay with --follow, which also has the behind-capture metrics. */
export function exposeReplayMetrics(read: () => Promise<ReplayStatus>, live: boolean): void {
  source = read;
  const registers = [metricsRegistry];
  if (live && !registeredLive) {
    registeredLive = true;
    registerLive(registers);
  }
  if (registered) return;
  registered = true;
  // Registered in metricsRegistry by their constructors; read through collect() on every scrape.
  new Counter({
    name: "sluice_replay_commands_total",
    help: "Replayed commands by outcome: ok and error (answered by the target), skipped, filtered",
    labelNames: ["outcome"],
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.reset();
      for (const outcome of ["ok", "error", "skipped", "filtered"] as const)
        this.inc({ outcome }, s[outcome]);
    },
  });
  new Counter({
    name: "sluice_replay_errors_total",
    help: "Target errors by errno",
    labelNames: ["code"],
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.reset();
      for (const [code, n] of Object.entries(s.errorsByCode)) this.inc({ code }, n);
    },
  });
  new Counter({
    name: "sluice_replay_slow_commands_total",
    help: "Commands slower on the target than --slow-ms",
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.reset();
      this.inc(s.slow);
    },
  });
  new Gauge({
    name: "sluice_replay_sessions",
    help: "Sessions with a target connection open, and waiting for one (--max-connections)",
    labelNames: ["state"],
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      this.set({ state: "open" }, s.sessionsOpen);
      this.set({ state: "waiting" }, s.sessionsWaiting);
    },
  });
  new Gauge({
    name: "sluice_replay_scheduling_lag_seconds",
    help: "How late the latest command was sent after its planned time (0 at --speed max)",
    registers,
    async collect() {
      const s = await status();
      if (s) this.set(s.lagMs / 1000);
    },
  });
  new Gauge({
    name: "sluice_replay_target_latency_seconds",
    help: "Target latency of the commands replayed so far, by quantile (1 = max), from an HdrHistogram",
    labelNames: ["quantile"],
    registers,
    async collect() {
      const s = await status();
      if (!s) return;
      for (const quantile of QUANTILES) this.set({ quantile }, (s.latencyUs[quantile] ?? 0) / 1e6);
    },
  });
}

/** Only with --follow (a live replay): absent otherwise. */
function registerLive(registers: (typeof metricsRegistry)[]): void {
  new Gauge({
    name: "sluice_replay_behind_capture_seconds",
    help: "With --follow: now minus the capture time of the newest command done (0 once everything is committed)",
    registers,
    async collect() {
      const s = await status();
      if (s?.behindCaptureMs !== undefined) this.set(s.behindCaptureMs / 1000);
    },
  });
  new Gauge({
    name: "sluice_replay_uncommitted_records",
    help: "With --follow: records the stream log holds beyond the group's committed position",
    registers,
    async collect() {
      const s = await status();
      if (s?.uncommittedRecords !== undefined) this.set(s.uncommittedRecords);
    },
  });
}
