import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SluiceError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { createProgress } from "../core/progress.ts";
import { parseStartSpec } from "../sources/replication/positions.ts";
import type { CheckpointStore } from "./checkpoint.ts";
import { mariadbGtidStart } from "./gtid-start.ts";
import { cdcMetrics } from "./metrics.ts";
import { type BinlogEventRow, partitionRange } from "./partition.ts";
import { SourceInfo } from "./source-info.ts";

/**
 * Partitioned parallel catch-up (`sluice cdc run --workers N`): the partitioner splits the pending
 * range (checkpoint to head) into ranges at transaction boundaries and records them, together with
 * the pipeline checkpoint moved to the head, in one transaction of the checkpoint store. N worker
 * processes each stream one range and checkpoint inside it; a finished range is deleted; a crashed
 * worker's range is handed out again and resumes from its own checkpoint. The history store keys
 * every change by position, so the order in which ranges finish does not matter.
 */
export interface PartitionedOptions {
  source: string;
  checkpoints: CheckpointStore;
  name: string;
  workers: number;
  /** Where a first run starts (now, earliest, FILE:OFFSET, a MariaDB GTID position). */
  start?: string;
  /** Events per range (default 10000). */
  rangeEvents?: number;
  /** Arguments of `sluice cdc run` for a worker, without --range-worker. */
  workerArgs: string[];
  /** Attempts per range before giving up (default 3). */
  maxAttempts?: number;
  logger: Logger;
  quiet?: boolean;
  signal?: AbortSignal;
}

export interface PartitionedResult {
  ranges: number;
  events: number;
  failedRanges: number[];
  partitionMs: number;
}

/** The CLI entry this process runs (bin/sluice.js or a compiled main.js), else the installation's bin/sluice.js. */
export function sluiceBin(): string {
  const running = process.argv[1];
  if (running && /(?:sluice|main)\.[cm]?[jt]s$/.test(running)) return running;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const bin = join(dir, "bin", "sluice.js");
    if (existsSync(bin)) return bin;
    dir = dirname(dir);
  }
  throw new SluiceError("CDC_WORKER", "cannot find bin/sluice.js to start workers");
}

async function pendingStart(info: SourceInfo, start: string): Promise<{ file: string; offset: number }> {
  const spec = parseStartSpec(start);
  if (spec.kind === "now") return info.head();
  if (spec.kind === "earliest") {
    const files = await info.binlogFiles();
    return files[0] ? { file: files[0].file, offset: 4 } : info.head();
  }
  if (spec.kind === "file") return { file: spec.file, offset: spec.offset };
  if (spec.kind === "mariadb-gtid") return mariadbGtidStart(info, spec.position);
  throw new SluiceError(
    "USAGE_CDC_START",
    "a partitioned catch-up cannot start from a MySQL GTID set: the ranges are cut at file positions, and MySQL has no server function that turns a GTID set into one",
    {
      hint: "give --start FILE:OFFSET (SHOW BINARY LOG STATUS / SHOW BINLOG EVENTS, or a checkpoint, say where), or run with --workers 1, which streams from a GTID set",
    },
  );
}

/** Splits checkpoint..head into ranges and records them, unless ranges from an earlier run are still open. */
export async function planRanges(
  info: SourceInfo,
  checkpoints: CheckpointStore,
  name: string,
  start: string | undefined,
  rangeEvents: number | undefined,
): Promise<number> {
  const open = await checkpoints.ranges(name);
  if (open.length > 0) return open.length;
  const cp = await checkpoints.load(name);
  const from = cp ? { file: cp.file, offset: cp.offset } : await pendingStart(info, start ?? "now");
  const now = Math.floor(Date.now() / 1000);
  const head = await info.head();
  const files = (await info.binlogFiles()).map((f) => f.file);
  const show = (file: string, pos: number, skip: number, count: number) =>
    info.query<BinlogEventRow>(
      `SHOW BINLOG EVENTS IN ? FROM ${Number(pos)} LIMIT ${Number(skip)}, ${Number(count)}`,
      [file],
    );
  const planned = await partitionRange(show, {
    start: from,
    head,
    files,
    ...(rangeEvents ? { rangeEvents } : {}),
  });
  // Until a worker reports a range's real time, the time its start was known to be processed bounds it.
  const bound = cp?.processedTime ?? 0;
  await checkpoints.addRanges(
    name,
    planned.map((r) => ({ ...r, currentTime: bound, eventsTotal: r.events })),
    {
      file: head.file,
      offset: head.offset,
      gtid: null,
      timestamp: now,
      processedTime: now,
      events: (cp?.events ?? 0) + planned.reduce((a, r) => a + r.events, 0),
      rate: cp?.rate ?? 0,
    },
  );
  return planned.length;
}

export async function runPartitioned(o: PartitionedOptions): Promise<PartitionedResult> {
  const m = cdcMetrics();
  const info = await SourceInfo.open(o.source);
  const t0 = Date.now();
  try {
    await planRanges(info, o.checkpoints, o.name, o.start, o.rangeEvents);
  } finally {
    await info.close();
  }
  const partitionMs = Date.now() - t0;
  const all = await o.checkpoints.ranges(o.name);
  const total = all.reduce((a, r) => a + r.eventsTotal, 0);
  o.logger.info(
    { ranges: all.length, events: total, partitionMs },
    `catching up ${all.length} ranges with ${o.workers} workers`,
  );
  const queue = all.map((r) => r.id);
  const attempts = new Map<number, number>();
  const failed: number[] = [];
  const running = new Map<number, ChildProcess>();
  const bin = sluiceBin();
  const maxAttempts = o.maxAttempts ?? 3;
  const progress = createProgress("cdc catch-up events", total, { quiet: o.quiet ?? false });
  const onAbort = () => {
    for (const c of running.values()) c.kill("SIGTERM");
  };
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const poll = async () => {
    const open = await o.checkpoints.ranges(o.name);
    m.openRanges.set(open.length);
    const left = open.reduce((a, r) => a + Math.max(0, r.eventsTotal - r.eventsDone), 0);
    progress.update(total - left);
  };
  const timer = setInterval(() => void poll().catch(() => {}), 500);
  try {
    await new Promise<void>((resolve) => {
      let workers = 0;
      const done = () => {
        if (workers === 0) resolve();
      };
      const startWorker = () => {
        workers++;
        // Workers pull ranges over IPC (`--range-worker 0`): one process serves many ranges.
        const child = spawn(
          process.execPath,
          [...process.execArgv, bin, ...o.workerArgs, "--range-worker", "0"],
          {
            stdio: ["ignore", "inherit", "inherit", "ipc"],
            env: process.env,
          },
        );
        let current: number | undefined;
        child.on("message", () => {
          if (current !== undefined) running.delete(current);
          current = o.signal?.aborted ? undefined : queue.shift();
          if (current !== undefined) {
            attempts.set(current, (attempts.get(current) ?? 0) + 1);
            running.set(current, child);
          }
          child.send(current === undefined ? {} : { range: current });
        });
        child.once("exit", (code, signal) => {
          workers--;
          if (current !== undefined) {
            running.delete(current);
            if (!o.signal?.aborted) {
              o.logger.warn(
                { range: current, code, signal, attempt: attempts.get(current) },
                "a worker ended inside a range; the range resumes from its own checkpoint",
              );
              if ((attempts.get(current) ?? 0) < maxAttempts) queue.push(current);
              else failed.push(current);
            }
          }
          if (queue.length > 0 && !o.signal?.aborted) startWorker();
          done();
        });
      };
      const n = Math.min(o.workers, queue.length);
      for (let i = 0; i < n; i++) startWorker();
      done();
    });
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener("abort", onAbort);
    await poll().catch(() => {});
    progress.stop();
  }
  const end = await o.checkpoints.load(o.name);
  const secs = (Date.now() - t0) / 1000;
  if (end && failed.length === 0 && !o.signal?.aborted && secs > 0)
    await o.checkpoints.save(o.name, { ...end, rate: total / secs });
  if (failed.length > 0)
    throw new SluiceError(
      "CDC_RANGE_FAILED",
      `${failed.length} range(s) failed ${maxAttempts} times: ${failed.join(", ")}`,
      {
        context: { name: o.name },
        hint: "see the workers' errors above; the ranges stay recorded and the next run resumes them",
      },
    );
  return { ranges: all.length, events: total, failedRanges: failed, partitionMs };
}
