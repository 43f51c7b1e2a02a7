import { writeFileSync } from "node:fs";
import { constants } from "node:os";
import { type Command, CommanderError, Option } from "commander";
import { CAPTURE_STREAM } from "../../capture/publish.ts";
import { SluiceError } from "../../core/errors.ts";
import { redactUrl } from "../../core/url.ts";
import { type BatchOptions, DEFAULT_BATCH } from "../../replay/batch.ts";
import { exposeReplayMetrics } from "../../replay/metrics.ts";
import { parseMapping, type ReplayFilters, type ReplayOptions, replaySessions } from "../../replay/player.ts";
import { DEFAULT_SLOW_MS, formatProgress, formatSummary, renderHtml } from "../../replay/report.ts";
import { parseSpeed, type SessionPlan, type Speed } from "../../replay/scheduler.ts";
import {
  followStream,
  type LiveStream,
  plansFromPcap,
  plansFromStream,
  type StreamProgress,
  streamProgress,
} from "../../replay/source.ts";
import { openStreamLog, type StreamLog } from "../../stream/index.ts";
import { action, cliContext, ExitCode, intOption, positiveIntOption } from "../context.ts";

interface ReplayCliOptions {
  pcap?: string;
  from?: string;
  stream?: string;
  group: string;
  target: string;
  port: number[];
  speed: Speed;
  readOnly?: boolean;
  db?: string[];
  user?: string[];
  fingerprint?: string;
  dbMap: string[];
  userMap: string[];
  maxConnections: number;
  dryRun?: boolean;
  explain?: boolean;
  source?: string;
  json?: boolean;
  html?: string;
  progressInterval: number;
  slowMs: number;
  follow?: boolean;
  commitInterval: number;
  commitBatch: number;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function speedOption(value: string): Speed {
  try {
    return parseSpeed(value);
  } catch (e) {
    throw new CommanderError(ExitCode.usage, "sluice.invalidArgument", `--speed: ${(e as Error).message}`);
  }
}

/** Stopped by a signal: the sessions stop and what is done is written before the process exits. */
/** The stream the session events are in: --stream, else the one the --from URL names, else capture's default. */
function streamOf(o: { stream?: string }, log: StreamLog): string {
  return o.stream ?? log.defaultStream ?? CAPTURE_STREAM;
}

function stopOnSignal(p: StreamProgress, signal: NodeJS.Signals): void {
  void p
    .stop()
    .catch(() => undefined)
    .finally(() => process.exit(128 + (constants.signals[signal] ?? 0)));
}

/**
 * Handles SIGINT/SIGTERM with `onSignal` while the replay runs; returns the close of the run's progress
 * and of the log.
 */
function closeOnSignal(
  log: StreamLog,
  p: StreamProgress,
  onSignal: (signal: NodeJS.Signals) => void,
): () => Promise<void> {
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return async () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    try {
      await p.close();
    } finally {
      await log.close();
    }
  };
}

export function register(program: Command): void {
  program
    .command("replay")
    .description(
      "Play captured MySQL sessions against a target server (one connection per session, commands in captured order) and compare its answers with the source's by query fingerprint",
    )
    .option("--pcap <file>", "a saved capture (pcap/pcapng)")
    .option(
      "--from <url>",
      "read session events from the stream log (file:PATH, amqp://..., nats://... or redis://...)",
    )
    .option("--stream <name>", "stream name in the log (default: the one the --from URL names, else capture)")
    .option("--group <name>", "consumer group: its committed position is where a restart resumes", "replay")
    .requiredOption("--target <url>", "the server to replay on: mysql://user[:password]@host:port")
    .option(
      "--port <port>",
      "the source's server port in the capture (repeatable; default 3306)",
      (v, prev: number[] | undefined) => [...(prev ?? []), intOption("--port")(v)],
    )
    .addOption(
      new Option("--speed <factor>", "captured pacing scaled by this factor (0.5, 1, 2, 10), or max")
        .default(1)
        .argParser(speedOption),
    )
    .option("--read-only", "only statements that cannot change data (SELECT, SHOW, ...)")
    .option("--db <name>", "only commands in this source database (repeatable)", collect)
    .option("--user <name>", "only sessions of this source user (repeatable)", collect)
    .option("--fingerprint <regexp>", "only statements whose fingerprint matches")
    .option("--db-map <from=to>", "replay database FROM as TO (repeatable)", collect, [])
    .option("--user-map <from=to>", "connect source user FROM as target user TO (repeatable)", collect, [])
    .addOption(
      new Option(
        "--max-connections <n>",
        "most target connections at once; later sessions wait (reported as lag)",
      )
        .default(100)
        .argParser(intOption("--max-connections")),
    )
    .addOption(
      new Option(
        "--progress-interval <seconds>",
        "progress line every N seconds on stderr (0: none): commands/s, p50/p95/p99, errors by code, slow commands and the slowest, sessions, scheduling lag, with --follow the lag behind the capture; one JSON object a line with --json or --log-format json",
      )
        .default(5)
        .argParser(intOption("--progress-interval")),
    )
    .addOption(
      new Option(
        "--slow-ms <ms>",
        "a command slower than this on the target counts as slow (progress lines, end report, metrics)",
      )
        .default(DEFAULT_SLOW_MS)
        .argParser(positiveIntOption("--slow-ms")),
    )
    .addOption(
      new Option(
        "--commit-interval <ms>",
        "with --from: the journal of replayed commands and the group's position are written at least every N ms",
      )
        .default(DEFAULT_BATCH.intervalMs)
        .argParser(positiveIntOption("--commit-interval")),
    )
    .addOption(
      new Option(
        "--commit-batch <n>",
        "with --from: write them too as soon as N/2 commands are done; a session waits while N done are unwritten, so a restart after a crash runs again at most N-1 commands besides those executing (1: each command is journalled before its session sends the next)",
      )
        .default(DEFAULT_BATCH.maxCommands)
        .argParser(positiveIntOption("--commit-batch")),
    )
    .option(
      "--follow",
      "with --from: keep following the stream as capture writes it, until SIGINT/SIGTERM (the sessions play what was read, then the report; a second signal stops them where they are)",
    )
    .option("--dry-run", "only count what would be replayed")
    .option(
      "--explain",
      "EXPLAIN one sample per SELECT fingerprint on the target and report plan differences",
    )
    .option("--source <url>", "with --explain: the source server (mysql://...) to EXPLAIN the samples on too")
    .option("--json", "the end report as JSON on stdout, and the progress lines as JSON on stderr")
    .option("--html <file>", "also write the report as a self-contained HTML page with charts")
    .addHelpText(
      "after",
      `
Examples:
  sluice replay --pcap capture.pcap --port 3306 --target mysql://root@127.0.0.1:3307
  sluice replay --pcap capture.pcap --target mysql://root@127.0.0.1:3307 --speed max --json --html report.html
  sluice --metrics-port 9464 replay --from file:log.db --group live --follow --target mysql://root@127.0.0.1:3307 --slow-ms 200

The end report adds the commands slower than --slow-ms and the 10 slowest. With --metrics-port,
/metrics has sluice_replay_* (commands by outcome, errors by code, slow commands, sessions, scheduling
lag, target latency quantiles; with --follow how far behind the capture). See docs/replay.md.`,
    )
    .action(
      action(async (o: ReplayCliOptions, cmd: Command) => {
        const { logger, logFormat } = await cliContext(cmd);
        if ((o.pcap === undefined) === (o.from === undefined))
          throw new SluiceError("USAGE_SOURCE", "give exactly one of --pcap FILE or --from URL", {
            hint: "sluice replay --pcap capture.pcap --target mysql://root@127.0.0.1:3307",
          });
        const filters: ReplayFilters = {};
        if (o.readOnly) filters.readOnly = true;
        if (o.db) filters.databases = o.db;
        if (o.user) filters.users = o.user;
        if (o.fingerprint) filters.fingerprint = new RegExp(o.fingerprint, "i");
        const options: ReplayOptions = {
          target: o.target,
          speed: o.speed,
          maxConnections: o.maxConnections,
          dbMap: parseMapping(o.dbMap, "db"),
          userMap: parseMapping(o.userMap, "user"),
          filters,
          dryRun: Boolean(o.dryRun),
          slowMs: o.slowMs,
          ...(o.explain ? { explain: o.source !== undefined ? { source: o.source } : {} } : {}),
        };
        if (o.progressInterval > 0 && !o.dryRun) {
          options.progressIntervalMs = o.progressInterval * 1000;
          // For scripts: one JSON object per line with --json or --log-format json.
          const json = o.json || logFormat === "json";
          options.onProgress = (p) =>
            process.stderr.write(json ? `${JSON.stringify({ progress: p })}\n` : `${formatProgress(p)}\n`);
        }
        // Read when --metrics-port is scraped.
        if (!o.dryRun) options.onStatus = (read) => exposeReplayMetrics(read, Boolean(o.follow));
        const batch: BatchOptions = { intervalMs: o.commitInterval, maxCommands: o.commitBatch };
        // Commands executed by an earlier run that was stopped before it could commit them.
        const skippedBefore = (p: StreamProgress) => {
          if (p.skipped > 0)
            logger.info({ skipped: p.skipped }, `${p.skipped} commands ran before the restart`);
        };
        let plans: SessionPlan[];
        /** With --follow: the sessions in the log at the start (the feed brings them). */
        let sessionsAtStart: number | undefined;
        let closeLog: (() => Promise<void>) | undefined;
        let progress: StreamProgress | undefined;
        let live: LiveStream | undefined;
        if (o.pcap !== undefined) {
          plans = await plansFromPcap(o.pcap, o.port && o.port.length > 0 ? o.port : [3306], o.speed);
        } else if (o.follow) {
          if (o.dryRun) throw new SluiceError("USAGE_FOLLOW", "--follow and --dry-run do not go together");
          const log = await openStreamLog(o.from ?? "");
          const stream = streamOf(o, log);
          const l = await followStream(log, stream, o.group, o.speed, batch);
          live = l;
          // The feed brings every session, those in the log now first (nothing is kept once played).
          plans = [];
          sessionsAtStart = l.sessionsAtStart;
          progress = l;
          skippedBefore(l);
          options.onDone = (c) => (c.offset === undefined ? undefined : l.done(c.offset));
          // head - committed, as `sluice stream info` shows it: one read of the log per progress line or scrape.
          options.streamLag = async () =>
            (await log.info(stream)).groups.find((g) => g.group === o.group)?.lag;
          // The first signal stops reading: the sessions play what was read, then the report. A second one
          // stops where the replay is, as without --follow.
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals) => {
            if (signals++ > 0) return stopOnSignal(l, signal);
            logger.info(
              { signal },
              `${signal}: reading stopped, the sessions play what was read (${signal} again stops them where they are)`,
            );
            void l.finish();
          };
          closeLog = closeOnSignal(log, l, onSignal);
        } else {
          const log = await openStreamLog(o.from ?? "");
          closeLog = () => log.close();
          const stream = streamOf(o, log);
          // (with --follow the stream may come later; without, a stream that is not there is a mistake)
          const names = await log.streams();
          if (!names.includes(stream))
            throw new SluiceError("STREAM_NOT_FOUND", `no stream '${stream}' in ${log.url}`, {
              context: { url: log.url, stream },
              hint:
                names.length > 0
                  ? `the log has ${names.map((n) => `'${n}'`).join(", ")}: name one with --stream NAME or in the URL`
                  : "the log has no stream yet: sluice capture --to URL writes one (or replay with --follow to wait for it)",
            });
          const read = await plansFromStream(log, stream, o.group, o.speed);
          plans = read.plans;
          if (read.lastOffset !== undefined && !o.dryRun) {
            const p = await streamProgress(
              log,
              stream,
              o.group,
              { plans, lastOffset: read.lastOffset },
              batch,
            );
            progress = p;
            skippedBefore(p);
            options.onDone = (c) => (c.offset === undefined ? undefined : p.done(c.offset));
            closeLog = closeOnSignal(log, p, (signal) => stopOnSignal(p, signal));
          }
        }
        const sessions = sessionsAtStart ?? plans.length;
        logger.info(
          { sessions, target: redactUrl(o.target) },
          `replaying ${sessions} sessions on ${redactUrl(o.target)}`,
        );
        try {
          const result = await replaySessions(plans, options, live?.feed);
          await progress?.flush();
          if (o.json) process.stdout.write(`${JSON.stringify(result.summary)}\n`);
          else process.stdout.write(formatSummary(result.summary));
          if (o.html) writeFileSync(o.html, renderHtml(result.summary));
        } finally {
          await closeLog?.();
        }
        return ExitCode.ok;
      }),
    );
}
