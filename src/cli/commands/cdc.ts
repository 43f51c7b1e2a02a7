import { type Command, Option } from "commander";
import { CheckpointStore, processedUpTo } from "../../cdc/checkpoint.ts";
import type { FilterSpec } from "../../cdc/filter.ts";
import { cdcMetrics } from "../../cdc/metrics.ts";
import { runPartitioned } from "../../cdc/partitioned.ts";
import { type CollectorProgress, runCollector } from "../../cdc/runner.ts";
import { SourceInfo } from "../../cdc/source-info.ts";
import { parseDuration } from "../../cdc/time.ts";
import { SluiceError } from "../../core/errors.ts";
import { formatCount, formatDuration } from "../../core/units.ts";
import { redactUrl } from "../../core/url.ts";
import { HistorySink, openHistoryStore } from "../../sinks/history/index.ts";
import { JsonLinesSink } from "../../sinks/jsonl.ts";
import { StreamLogSink } from "../../sinks/stream.ts";
import type { ChangeSink } from "../../sinks/types.ts";
import { action, cliContext, ExitCode, intOption } from "../context.ts";

export interface RunOptions {
  source: string;
  store: string;
  checkpoint?: string;
  name: string;
  start?: string;
  untilHead?: boolean;
  checkpointEvery: number;
  chunkRows: number;
  include?: string[];
  exclude?: string[];
  kinds?: string[];
  columns?: string[];
  excludeColumns?: string[];
  where?: string;
  sink: "history" | "jsonl" | "stream";
  to?: string;
  workers: number;
  rangeEvents?: number;
  rangeWorker?: number;
  serverId?: number;
  json?: boolean;
}

export function filterSpecOf(o: RunOptions): FilterSpec {
  return {
    ...(o.include ? { include: o.include } : {}),
    ...(o.exclude ? { exclude: o.exclude } : {}),
    ...(o.kinds ? { kinds: o.kinds } : {}),
    ...(o.columns ? { columns: o.columns } : {}),
    ...(o.excludeColumns ? { excludeColumns: o.excludeColumns } : {}),
    ...(o.where ? { where: o.where } : {}),
  };
}

/** The checkpoint store: --checkpoint, else the history store itself, else an embedded file. */
export function checkpointUrlOf(o: { checkpoint?: string; store: string; sink?: string }): string {
  if (o.checkpoint) return o.checkpoint;
  if (!o.sink || o.sink === "history") return o.store;
  return "file:./sluice-cdc.db";
}

export async function openSink(o: RunOptions): Promise<ChangeSink> {
  switch (o.sink) {
    case "history":
      return new HistorySink(await openHistoryStore(o.store));
    case "jsonl":
      return JsonLinesSink.open(o.to);
    case "stream":
      if (!o.to)
        throw new SluiceError("USAGE_CDC_SINK", "--sink stream needs --to URL", {
          hint: "e.g. --to file:./changes.db?stream=cdc, --to amqp://guest:guest@127.0.0.1:5672/cdc or --to redis://127.0.0.1:6379/cdc",
        });
      return StreamLogSink.open(o.to);
  }
}

async function runCommand(o: RunOptions, cmd: Command): Promise<number> {
  const { logger } = await cliContext(cmd);
  if (o.rangeWorker !== undefined) return rangeWorkerCommand(o);
  if (o.workers > 1) {
    if (o.sink === "jsonl")
      throw new SluiceError(
        "USAGE_CDC_WORKERS",
        "--workers above 1 needs a sink that takes concurrent writers",
        {
          hint: "use --sink history or --sink stream with --workers, or --workers 1 with jsonl",
        },
      );
    const checkpoints = await CheckpointStore.open(checkpointUrlOf(o));
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const r = await runPartitioned({
        source: o.source,
        checkpoints,
        name: o.name,
        workers: o.workers,
        ...(o.start ? { start: o.start } : {}),
        ...(o.rangeEvents ? { rangeEvents: o.rangeEvents } : {}),
        workerArgs: workerArgsOf(o),
        logger,
        quiet: Boolean(o.json),
        signal: controller.signal,
      });
      logger.info(r, `caught up: ${r.ranges} ranges, ${formatCount(r.events)} events`);
      if (controller.signal.aborted) return ExitCode.ok;
      if (o.untilHead) {
        if (o.json) process.stdout.write(`${JSON.stringify({ ended: "stop", ...r })}\n`);
        return ExitCode.ok;
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await checkpoints.close();
    }
    // Caught up: follow from the head with one collector.
  }
  const controller = new AbortController();
  const stop = (sig: string) => {
    logger.info({ signal: sig }, "stopping: finishing the current event and saving a checkpoint");
    controller.abort();
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  process.once("SIGINT", onInt);
  process.once("SIGTERM", onTerm);
  const checkpoints = await CheckpointStore.open(checkpointUrlOf(o));
  let sink: ChangeSink | undefined;
  try {
    sink = await openSink(o);
    logger.info(
      {
        source: redactUrl(o.source),
        sink: o.sink,
        store: redactUrl(o.sink === "history" ? o.store : (o.to ?? "stdout")),
      },
      o.untilHead ? "collecting up to the current head" : "collecting (Ctrl-C to stop)",
    );
    const result = await runCollector({
      source: o.source,
      sink,
      checkpoints,
      name: o.name,
      ...(o.start ? { start: o.start } : {}),
      ...(o.untilHead ? { untilHead: true } : {}),
      checkpointEvery: o.checkpointEvery,
      chunkRows: o.chunkRows,
      filter: filterSpecOf(o),
      ...(o.serverId !== undefined ? { serverId: o.serverId } : {}),
      signal: controller.signal,
      onProgress: (p: CollectorProgress) =>
        logger.debug(
          {
            events: p.events,
            transactions: p.transactions,
            rows: p.rowsKept,
            at: p.position && `${p.position.file}:${p.position.offset}`,
          },
          "progress",
        ),
    });
    const summary = {
      ended: result.ended,
      events: result.events,
      transactions: result.transactions,
      rowsSeen: result.rowsSeen,
      rowsKept: result.rowsKept,
      checkpoints: result.checkpoints,
      checkpoint: result.checkpoint
        ? { file: result.checkpoint.file, offset: result.checkpoint.offset, gtid: result.checkpoint.gtid }
        : null,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else
      logger.info(
        summary,
        `done: ${formatCount(result.events)} events, ${formatCount(result.transactions)} transactions, ${formatCount(result.rowsKept)} row changes kept`,
      );
    return ExitCode.ok;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    await sink?.close();
    await checkpoints.close();
  }
}

/** The arguments of `sluice cdc run` that a range worker needs (the same source, sink, store and filters). */
function workerArgsOf(o: RunOptions): string[] {
  const a = [
    "cdc",
    "run",
    "--source",
    o.source,
    "--store",
    o.store,
    "--checkpoint",
    checkpointUrlOf(o),
    "--name",
    o.name,
  ];
  a.push(
    "--checkpoint-every",
    String(o.checkpointEvery),
    "--chunk-rows",
    String(o.chunkRows),
    "--sink",
    o.sink,
  );
  if (o.to) a.push("--to", o.to);
  for (const [flag, v] of [
    ["--include", o.include],
    ["--exclude", o.exclude],
    ["--kinds", o.kinds],
    ["--columns", o.columns],
    ["--exclude-columns", o.excludeColumns],
  ] as const)
    if (v && v.length > 0) a.push(flag, ...v);
  if (o.where) a.push("--where", o.where);
  return a;
}

/**
 * One worker of a partitioned catch-up: streams ranges from each range's own checkpoint to its end.
 * `--range-worker ID` runs one range; `--range-worker 0` (how the parent starts workers) asks the
 * parent for range after range over the IPC channel, so a process serves many ranges.
 */
async function rangeWorkerCommand(o: RunOptions): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const checkpoints = await CheckpointStore.open(checkpointUrlOf(o));
  let sink: ChangeSink | undefined;
  const runRange = async (id: number) => {
    const r = (await checkpoints.ranges(o.name)).find((x) => x.id === id);
    if (!r) return; // finished by an earlier attempt
    if (r.currentFile === r.endFile && r.currentOffset >= r.endOffset) {
      await checkpoints.removeRange(id);
      return;
    }
    sink ??= await openSink(o);
    const result = await runCollector({
      source: o.source,
      sink,
      checkpoints,
      name: o.name,
      range: { id, eventsDoneBefore: r.eventsDone },
      stop: `${r.endFile}:${r.endOffset}`,
      checkpointEvery: o.checkpointEvery,
      chunkRows: o.chunkRows,
      filter: filterSpecOf(o),
      signal: controller.signal,
    });
    if (result.ended === "stop") await checkpoints.removeRange(id);
  };
  try {
    if (o.rangeWorker !== 0 || !process.send) {
      await runRange(o.rangeWorker!);
      return ExitCode.ok;
    }
    const ask = () =>
      new Promise<number | undefined>((resolve) => {
        process.once("message", (msg: { range?: number }) => resolve(msg.range));
        process.send!({ ready: true });
      });
    for (let id = await ask(); id !== undefined && !controller.signal.aborted; id = await ask())
      await runRange(id);
    return ExitCode.ok;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await sink?.close();
    await checkpoints.close();
    if (process.connected) process.disconnect();
  }
}

interface StatusOptions {
  store: string;
  checkpoint?: string;
  source?: string;
  name: string;
  json?: boolean;
  maxLag?: string;
  webhook?: string;
}

export interface CdcStatus {
  name: string;
  now: number;
  head: { file: string; offset: number } | null;
  checkpoint: { file: string; offset: number; gtid: string | null; updatedAt: string } | null;
  processedUpTo: string | null;
  processedUpToSeconds: number | null;
  lagSeconds: number | null;
  openRanges: Array<{ id: number; current: string; end: string; eventsDone: number; eventsTotal: number }>;
  /** Events read by the pipeline so far and the last run's rate; events done/total of open ranges. */
  throughput: { events: number; eventsPerSecond: number; rangeEventsDone: number; rangeEventsTotal: number };
  maxLagSeconds: number | null;
  lagExceeded: boolean;
}

export async function readStatus(o: StatusOptions): Promise<CdcStatus> {
  const store = await CheckpointStore.open(checkpointUrlOf(o));
  try {
    const cp = await store.load(o.name);
    const ranges = await store.ranges(o.name);
    let head: CdcStatus["head"] = null;
    if (o.source) {
      const info = await SourceInfo.open(o.source);
      try {
        head = await info.head();
      } finally {
        await info.close();
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const upTo = processedUpTo(cp, ranges);
    const lag = upTo === undefined ? null : Math.max(0, now - upTo);
    const maxLag = o.maxLag ? parseDuration(o.maxLag, "--max-lag") : null;
    const m = cdcMetrics();
    if (upTo !== undefined) m.processedUpTo.set(upTo);
    if (lag !== null) m.lag.set(lag);
    m.openRanges.set(ranges.length);
    return {
      name: o.name,
      now,
      head,
      checkpoint: cp
        ? { file: cp.file, offset: cp.offset, gtid: cp.gtid, updatedAt: new Date(cp.updatedAt).toISOString() }
        : null,
      processedUpTo: upTo === undefined ? null : new Date(upTo * 1000).toISOString(),
      processedUpToSeconds: upTo ?? null,
      lagSeconds: lag,
      openRanges: ranges.map((r) => ({
        id: r.id,
        current: `${r.currentFile}:${r.currentOffset}`,
        end: `${r.endFile}:${r.endOffset}`,
        eventsDone: r.eventsDone,
        eventsTotal: r.eventsTotal,
      })),
      throughput: {
        events: cp?.events ?? 0,
        eventsPerSecond: Math.round(cp?.rate ?? 0),
        rangeEventsDone: ranges.reduce((a, r) => a + r.eventsDone, 0),
        rangeEventsTotal: ranges.reduce((a, r) => a + r.eventsTotal, 0),
      },
      maxLagSeconds: maxLag,
      // No checkpoint at all is as late as it gets.
      lagExceeded: maxLag !== null && (lag === null || lag > maxLag),
    };
  } finally {
    await store.close();
  }
}

async function statusCommand(o: StatusOptions, cmd: Command): Promise<number> {
  const { logger } = await cliContext(cmd);
  const s = await readStatus(o);
  if (o.json) process.stdout.write(`${JSON.stringify(s)}\n`);
  else {
    const lines = [
      `pipeline       ${s.name}`,
      `head           ${s.head ? `${s.head.file}:${s.head.offset}` : "(give --source to show)"}`,
      `checkpoint     ${s.checkpoint ? `${s.checkpoint.file}:${s.checkpoint.offset}${s.checkpoint.gtid ? ` (${s.checkpoint.gtid})` : ""}, saved ${s.checkpoint.updatedAt}` : "none"}`,
      `processed up to ${s.processedUpTo ?? "-"}`,
      `lag            ${s.lagSeconds === null ? "-" : formatDuration(s.lagSeconds * 1000)}${s.maxLagSeconds !== null ? ` (bound ${formatDuration(s.maxLagSeconds * 1000)}${s.lagExceeded ? ", EXCEEDED" : ""})` : ""}`,
      `throughput     ${formatCount(s.throughput.eventsPerSecond)} events/s in the last run, ${formatCount(s.throughput.events)} events in all`,
      `open ranges    ${s.openRanges.length}${s.openRanges.length > 0 ? ` (${formatCount(s.throughput.rangeEventsDone)}/${formatCount(s.throughput.rangeEventsTotal)} events)` : ""}`,
      ...s.openRanges.map(
        (r) => `  #${r.id} at ${r.current} to ${r.end}: ${r.eventsDone}/${r.eventsTotal} events`,
      ),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  if (s.lagExceeded && o.webhook) {
    try {
      const res = await fetch(o.webhook, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ alert: "sluice cdc lag exceeded", ...s }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok)
        logger.warn(
          { status: res.status, webhook: redactUrl(o.webhook) },
          "the webhook answered with an error",
        );
    } catch (e) {
      logger.warn(
        { webhook: redactUrl(o.webhook), error: (e as Error).message },
        "the webhook could not be called",
      );
    }
  }
  return s.lagExceeded ? ExitCode.checkFailed : ExitCode.ok;
}

export function register(program: Command): void {
  const cdc = program
    .command("cdc")
    .description(
      "change data capture: follow a binlog into a change-history store, JSON lines or the stream log",
    );

  cdc
    .command("run")
    .description(
      "collect row changes from a server's binlog; the first run starts at --start, later runs continue from the stored checkpoint",
    )
    .requiredOption("--source <url>", "source server, mysql://user:pass@host:port (needs replication rights)")
    .option("--store <url>", "history store: file:PATH (SQLite) or mysql://.../db", "file:./history.db")
    .option(
      "--checkpoint <url>",
      "checkpoint store (default: the history store, or file:./sluice-cdc.db for other sinks)",
    )
    .option("--name <name>", "pipeline name (the checkpoint's key)", "default")
    .option(
      "--start <position>",
      "where a first run starts: now, earliest, FILE:OFFSET or a GTID (default now; with --workers above 1 a MariaDB GTID position, not a MySQL GTID set)",
    )
    .option("--until-head", "stop at the head as it is at start (cron-style runs)")
    .option("--checkpoint-every <n>", "checkpoint every N transactions", intOption("--checkpoint-every"), 500)
    .option("--chunk-rows <n>", "row changes per chunk of a big transaction", intOption("--chunk-rows"), 1000)
    .option("--include <globs...>", "keep only these tables (schema.table globs, e.g. 'shop.*')")
    .option("--exclude <globs...>", "drop these tables")
    .option("--kinds <rules...>", "kinds per table, e.g. 'shop.price=delete'")
    .option("--columns <globs...>", "keep only these columns (schema.table.column globs)")
    .option("--exclude-columns <globs...>", "drop these columns (e.g. '*.*.password')")
    .option("--where <expr>", "row predicate, e.g. \"after.price > 100 and before.status = 'open'\"")
    .addOption(
      new Option("--sink <kind>", "where changes go")
        .choices(["history", "jsonl", "stream"])
        .default("history"),
    )
    .option("--to <url>", "jsonl: a file (default stdout); stream: the stream-log URL")
    .option(
      "--workers <n>",
      "catch up with N parallel workers over partitioned ranges",
      intOption("--workers"),
      1,
    )
    .option(
      "--range-events <n>",
      "events per range of a partitioned catch-up (default 10000)",
      intOption("--range-events"),
    )
    .addOption(
      new Option("--range-worker <id>", "run one range of a partitioned catch-up (used by --workers)")
        .argParser(intOption("--range-worker"))
        .hideHelp(),
    )
    .option("--server-id <id>", "replica server id (default random)", intOption("--server-id"))
    .option("--json", "print the summary as JSON")
    .action(action(async (opts: RunOptions, cmd: Command) => runCommand(opts, cmd)));

  cdc
    .command("status")
    .description(
      "head, checkpoint, processed-up-to time, lag and open ranges of a pipeline; exit 3 when --max-lag is exceeded",
    )
    .option("--store <url>", "history store holding the checkpoint", "file:./history.db")
    .option("--checkpoint <url>", "checkpoint store, when not the history store")
    .option("--source <url>", "source server, to show its head")
    .option("--name <name>", "pipeline name", "default")
    .option("--max-lag <duration>", "exit 3 when the lag is above this (e.g. 5m)")
    .option("--webhook <url>", "POST a JSON alert here when --max-lag is exceeded")
    .option("--json", "print as JSON")
    .action(action(async (opts: StatusOptions, cmd: Command) => statusCommand(opts, cmd)));
}
