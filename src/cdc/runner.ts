import type { RowsCodec } from "../codecs/binlog/decoder.ts";
import { decodeTableMapEvent, iterateRows, openRowsEvent } from "../codecs/binlog/rows/index.ts";
import type { RowChange } from "../codecs/binlog/rows/types.ts";
import { SluiceError } from "../core/errors.ts";
import type { ChangeSink } from "../sinks/types.ts";
import { openBinlogStream } from "../sources/replication/stream.ts";
import { SchemaResolver } from "../sources/schema/index.ts";
import type { Checkpoint, CheckpointStore } from "./checkpoint.ts";
import type { FilterSpec } from "./filter.ts";
import { toCdcInputs } from "./input.ts";
import { cdcMetrics } from "./metrics.ts";
import { SourceInfo } from "./source-info.ts";
import { ChangeTransformer, type ResumePoint } from "./transformer.ts";

/**
 * One collector: source -> transformer -> sink, checkpointing every N transactions and at the end.
 * Used by `sluice cdc run` (one pipeline) and by the workers of a partitioned catch-up (one range).
 */
export interface CollectorOptions {
  /** mysql:// URL of the source (an account with replication rights). */
  source: string;
  sink: ChangeSink;
  checkpoints: CheckpointStore;
  /** Pipeline name: the checkpoint's key (default "default"). */
  name?: string;
  /** Where to start when the pipeline has no checkpoint: now (default), earliest, FILE:OFFSET, GTID. */
  start?: string;
  /** Stop at the head as it is at start. */
  untilHead?: boolean;
  /** Stop at this position (exclusive): FILE:OFFSET. */
  stop?: string;
  /** Checkpoint every N transactions (default 500). */
  checkpointEvery?: number;
  chunkRows?: number;
  filter?: FilterSpec;
  /** Replica server id for the stream (default: random). */
  serverId?: number;
  /** Heartbeat period asked from the server when idle (default 5 s). */
  heartbeatSeconds?: number;
  signal?: AbortSignal;
  /** Instead of the pipeline checkpoint: a range's own checkpoint (partitioned workers). */
  range?: { id: number; eventsDoneBefore: number };
  /** Called after each checkpoint and every 1000 events, for progress output. */
  onProgress?: (p: CollectorProgress) => void;
}

export interface CollectorProgress {
  events: number;
  transactions: number;
  rowsKept: number;
  position: ResumePoint | undefined;
  checkpoint: Checkpoint | undefined;
}

export interface CollectorResult extends CollectorProgress {
  rowsSeen: number;
  checkpoints: number;
  /** Why it ended: the stop position or head was reached, or it was asked to stop. */
  ended: "stop" | "signal";
}

/** Wraps the row layer so that rows of tables (or kinds) nobody wants are never decoded. */
function filteringRowsCodec(t: ChangeTransformer): RowsCodec {
  return {
    decodeTableMapEvent,
    decodeRowsEvent(body, typeCode, ctx, tables, where) {
      const frame = openRowsEvent(body, typeCode, ctx, tables, where);
      const { schema, table } = frame.header.table;
      const plan = t.filter.plan(schema, table);
      const kind = frame.header.kind === "write" ? "insert" : frame.header.kind;
      const rows: RowChange[] = [];
      if (plan.keep && plan.kinds.has(kind)) for (const row of iterateRows(frame)) rows.push(row);
      return { ...frame.header, rows };
    },
  };
}

/** Resolves `now`/`earliest` to a concrete position, so that a crash before the first checkpoint loses nothing. */
async function concreteStart(
  info: SourceInfo,
  start: string,
): Promise<{ file: string; offset: number } | undefined> {
  if (start === "now") return info.head();
  if (start === "earliest") {
    const files = await info.binlogFiles();
    if (files.length === 0) return info.head();
    return { file: files[0]!.file, offset: 4 };
  }
  return undefined;
}

export async function runCollector(opts: CollectorOptions): Promise<CollectorResult> {
  const name = opts.name ?? "default";
  const every = opts.checkpointEvery ?? 500;
  if (!Number.isInteger(every) || every < 1)
    throw new SluiceError("CDC_OPTION", `--checkpoint-every must be a positive integer, got ${every}`);
  const m = cdcMetrics();
  const info = await SourceInfo.open(opts.source);
  let pks: Map<string, string[]>;
  let start: string;
  let checkpoint: Checkpoint | undefined;
  // With --until-head, reaching the end means every transaction committed before now is processed.
  const startedAt = Math.floor(Date.now() / 1000);
  try {
    pks = await info.primaryKeys();
    if (opts.range) {
      const r = (await opts.checkpoints.ranges(name)).find((x) => x.id === opts.range!.id);
      if (!r)
        throw new SluiceError("CDC_RANGE", `range ${opts.range.id} of ${name} is gone`, {
          context: { name },
        });
      start = `${r.currentFile}:${r.currentOffset}`;
    } else {
      checkpoint = await opts.checkpoints.load(name);
      if (checkpoint) start = `${checkpoint.file}:${checkpoint.offset}`;
      else {
        start = opts.start ?? "now";
        const at = await concreteStart(info, start);
        if (at) {
          const now = Math.floor(Date.now() / 1000);
          await opts.checkpoints.save(name, { ...at, gtid: null, timestamp: now, processedTime: now });
          checkpoint = await opts.checkpoints.load(name);
          start = `${at.file}:${at.offset}`;
        }
      }
    }
  } catch (e) {
    await info.close();
    throw e;
  }
  const transformer = new ChangeTransformer({
    ...(opts.filter ? { filter: opts.filter } : {}),
    ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
    primaryKeyOf: (s, t) => pks.get(`${s}.${t}`),
  });
  const stream = openBinlogStream(opts.source, {
    start,
    ...(opts.stop ? { stop: opts.stop } : opts.untilHead ? { stop: "head" } : {}),
    ...(opts.serverId !== undefined ? { serverId: opts.serverId } : {}),
    heartbeatSeconds: opts.heartbeatSeconds ?? 5,
    rows: filteringRowsCodec(transformer),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let resume: ResumePoint | undefined = checkpoint
    ? {
        file: checkpoint.file,
        offset: checkpoint.offset,
        gtid: checkpoint.gtid,
        timestamp: checkpoint.timestamp,
      }
    : undefined;
  let processedTime = checkpoint?.processedTime ?? 0;
  let sinceCheckpoint = 0;
  let checkpoints = 0;
  let dirty = false;
  let eventsDone = opts.range?.eventsDoneBefore ?? 0;
  const eventsAtStart = eventsDone;
  const eventsBefore = checkpoint?.events ?? 0;
  const startedMs = Date.now();
  const progress = (): CollectorProgress => ({
    events: transformer.stats.events,
    transactions: transformer.stats.transactions,
    rowsKept: transformer.stats.rowsKept,
    position: resume,
    checkpoint,
  });
  const save = async () => {
    if (!resume || !dirty) return;
    await opts.sink.flush();
    if (opts.range)
      await opts.checkpoints.saveRange(opts.range.id, resume.file, resume.offset, processedTime, eventsDone);
    else {
      const secs = (Date.now() - startedMs) / 1000;
      const cp = {
        file: resume.file,
        offset: resume.offset,
        gtid: resume.gtid,
        timestamp: resume.timestamp,
        processedTime,
        events: eventsBefore + (eventsDone - eventsAtStart),
        rate: secs > 0 ? (eventsDone - eventsAtStart) / secs : 0,
      };
      await opts.checkpoints.save(name, cp);
      checkpoint = { ...cp, updatedAt: Date.now() };
    }
    checkpoints++;
    m.checkpoints.inc();
    m.processedUpTo.set(processedTime);
    sinceCheckpoint = 0;
    dirty = false;
    opts.onProgress?.(progress());
  };
  let ended: CollectorResult["ended"] = "stop";
  let resolver: SchemaResolver | undefined;
  try {
    for await (const ev of stream) {
      m.events.inc();
      eventsDone++;
      if (ev.type === "table_map" && ev.tableMap) {
        // What information_schema adds to the map, tracked across DDL, filled in before its rows events
        // are decoded: with binlog_row_metadata=MINIMAL the names (and signedness, charsets), with FULL
        // as with MINIMAL which LONGTEXT columns are MariaDB JSON. One query per table and version.
        if (transformer.wantsTable(ev.tableMap.schema, ev.tableMap.table)) {
          resolver ??= await SchemaResolver.connect(opts.source);
          await resolver.annotate(ev.tableMap);
        }
      } else if ((ev.type === "query" || ev.type === "mariadb_query_compressed") && resolver)
        resolver.noteQuery(ev.query, ev.database, ev.position);
      for (const input of toCdcInputs(ev)) {
        for (const out of transformer.push(input)) {
          switch (out.type) {
            case "chunk":
              await opts.sink.write(out);
              m.rows.inc({ outcome: "kept" }, out.changes.length);
              break;
            case "commit":
              m.transactions.inc();
              resume = out.resume;
              if (out.resume.timestamp > 0) processedTime = out.resume.timestamp;
              dirty = true;
              // A range's first checkpoint comes at once: it gives the lag rule the range's real time.
              if (++sinceCheckpoint >= every || (opts.range && checkpoints === 0)) await save();
              break;
            case "ddl":
              resume = out.resume;
              dirty = true;
              // A new table or key may have appeared.
              pks = await info.primaryKeys();
              break;
            case "progress":
              if (out.heartbeat) {
                // Idle at the head: everything up to now is processed (the seed's idle-source case).
                processedTime = Math.floor(Date.now() / 1000);
                dirty = resume !== undefined;
                await save();
              } else {
                resume = out.resume;
                dirty = true;
              }
              break;
          }
        }
      }
      if (eventsDone % 1000 === 0) opts.onProgress?.(progress());
    }
    if (opts.signal?.aborted) ended = "signal";
    else if (opts.untilHead && !transformer.inTransaction && startedAt > processedTime) {
      processedTime = startedAt;
      dirty = true;
    }
    // A clean end (stop reached or asked to stop) always leaves a checkpoint at a transaction boundary.
    await save();
  } finally {
    await stream.close();
    await info.close();
    await resolver?.close();
  }
  return {
    ...progress(),
    rowsSeen: transformer.stats.rowsSeen,
    checkpoints,
    ended,
  };
}
