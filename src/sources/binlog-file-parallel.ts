/**
 * Binlog files decoded and rendered (JSON lines or text) by several threads, the output in file
 * order and byte for byte that of the sequential read (readBinlogFileBatches + renderEvents).
 *
 * The main thread walks the events (their headers; it decodes only the few events the next ones
 * depend on: FORMAT_DESCRIPTION, TABLE_MAP, GTID, QUERY, XID...) and cuts the file every few MiB at
 * an event boundary, even inside a transaction: each chunk carries the decoder's state at its start
 * (binlog-file-chunks.ts). Workers render chunks, and the main thread those no worker is free for;
 * it hands their bytes out in order, with a bounded number of chunks in flight (memory stays
 * bounded whatever the transaction size, and a slow reader holds everything back). Where the walk cannot go on (damage, an unreadable
 * file, encryption), or a worker fails on a chunk, the rest is read sequentially from the start of
 * that chunk: the lines before the damage, then the same error at the same offset.
 */
import type { FileHandle } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import { setImmediate as yieldToEvents } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import {
  BinlogEventDecoder,
  type EventSource,
  isStatelessEventType,
  type RowsCodec,
} from "../codecs/binlog/decoder.ts";
import { BinlogFramer } from "../codecs/binlog/framer.ts";
import { type BinlogOutputFormat, decoderOptionsFor, renderEvents } from "../codecs/binlog/render.ts";
import * as rowsLayer from "../codecs/binlog/rows/index.ts";
import type { RowsEvent, TableMapEvent } from "../codecs/binlog/rows/types.ts";
import { JsonlSink } from "../codecs/binlog/rows-json/sink.ts";
import { COMMON_HEADER_LENGTH, EventType } from "../codecs/binlog/types.ts";
import { openFile, primeFormat, readAt, readBinlogFileBatches } from "./binlog-file.ts";
import {
  type ChunkDone,
  type ChunkJob,
  type ChunkMessage,
  type ChunkState,
  type RawEvent,
  resumeDecoder,
  runChunk,
  type SharedSlots,
} from "./binlog-file-chunks.ts";

export interface ParallelReadOptions {
  /** Files to read, in order. */
  files: string[];
  /** Threads rendering chunks, this one included (jobs - 1 workers; 1: none). */
  jobs: number;
  format: BinlogOutputFormat;
  /** As readBinlogFiles: start at this offset of the first file, stop before this one of the last. */
  startPosition?: number;
  stopPosition?: number;
  verifyChecksum?: boolean;
  signal?: AbortSignal;
  /** Called with the total bytes walked so far. */
  onProgress?: (bytesRead: number) => void;
  /** Bytes of a chunk (default 2 MiB). */
  chunkBytes?: number;
  /** Every chunk to a worker (queued while it loads), none rendered in this thread: for tests of the worker path. */
  onlyWorkers?: boolean;
  /** Counted as the read goes (for tests). */
  stats?: ParallelReadStats;
}

/** Where the chunks of a parallel read were rendered. */
export interface ParallelReadStats {
  /** Chunks rendered by worker threads, and by the calling thread. */
  workers: number;
  here: number;
  /** Where the rest was read sequentially (damage, or what the walk cannot hand over), if it was. */
  sequentialFrom?: { file: string; offset: number };
}

/** Files at least this big (in all) are read with one thread per core by default. */
export const PARALLEL_MIN_BYTES = 256 * 1024 * 1024;

/**
 * Threads for a read of `bytes` when none are asked for: one per core (at most 8) for 256 MiB and
 * more, else 1. Each thread compiles the decoder for itself and the main one also walks the file,
 * so threads cost CPU time; measured on two cores, they shortened the wall time of a 649 MiB binlog
 * (1.10 s against 1.31 s) but not of a 162 MiB one (docs/benchmarks.md).
 */
export function defaultJobs(bytes: number): number {
  return bytes >= PARALLEL_MIN_BYTES ? Math.min(availableParallelism(), 8) : 1;
}

const READ_BYTES = 1024 * 1024;
const DEFAULT_CHUNK = 2 * 1024 * 1024;
/** Chunks a worker is given ahead (more go to this thread: it never waits on a worker with work left to do). */
const WORKER_QUEUE = 1;
/** Beyond this many bytes without a boundary to cut at, the rest is read sequentially (bounded memory). */
const MAX_UNCUT = 256 * 1024 * 1024;

/** Rows events are not decoded by the walk; one inside a transaction payload gets this. */
const UNDECODED_ROWS = Object.freeze({}) as RowsEvent;
/**
 * The walk needs of a TABLE_MAP only which table id it defines (the chunk carries its bytes): read
 * as the row layer reads it, and the rest left (a damaged one is found by whoever decodes the chunk).
 */
const walkRows: RowsCodec = {
  decodeTableMapEvent: (body, ctx, where) => {
    const postHeader = ctx.postHeaderLengths[EventType.TABLE_MAP] || 8;
    if (body.length < 6) return rowsLayer.decodeTableMapEvent(body, ctx, where);
    const tableId = BigInt(postHeader === 6 ? body.readUInt32LE(0) : body.readUIntLE(0, 6));
    return { tableId } as TableMapEvent;
  },
  decodeRowsEvent: () => UNDECODED_ROWS,
};

/** The decoder of the walk, and the bytes of the events that make its state. */
class Walker {
  private readonly decoder = new BinlogEventDecoder({ verifyChecksum: false, rows: walkRows });
  private format: RawEvent | undefined;
  /** The last top-level TABLE_MAP of each table id, with its decoded map. */
  private readonly maps = new Map<bigint, { map: TableMapEvent; raw: RawEvent }>();

  primeFormat(fh: FileHandle, file: string): Promise<Buffer | undefined> {
    return primeFormat(fh, file, this.decoder).then((fd) => {
      if (fd !== undefined) this.format = { bytes: Buffer.from(fd), file, offset: 4 };
      return fd;
    });
  }

  /** Walks one complete event; throws where the decoder throws (or from START_ENCRYPTION on). */
  event(bytes: Buffer, where: EventSource): void {
    if (isStatelessEventType(bytes[4]!)) return;
    const ev = this.decoder.decode(bytes, where);
    if (this.decoder.encrypted) throw new Error("encrypted from here on");
    if (ev.type === "format_description") this.format = { bytes: Buffer.from(bytes), ...where };
    else if (ev.type === "table_map" && ev.tableMap !== undefined)
      this.maps.set(ev.tableMap.tableId, { map: ev.tableMap, raw: { bytes: Buffer.from(bytes), ...where } });
  }

  /** The state to resume at this boundary; undefined when a table map in force came from a transaction payload. */
  state(): ChunkState | undefined {
    const tables: RawEvent[] = [];
    for (const [id, t] of this.decoder.tables) {
      const m = this.maps.get(id);
      if (m === undefined || m.map !== t) return undefined;
      tables.push(m.raw);
    }
    if (tables.length === 0) this.maps.clear();
    return { format: this.format, tables, carry: this.decoder.carry() };
  }
}

/** Where a read can go on: offset `start` of files[index], with the decoder state there. */
interface Resume {
  index: number;
  start: number;
  state: ChunkState;
}

/** A chunk's input: a shared slot (its index, and a view of its bytes) or, when it outgrew one, a buffer of its own. */
interface Input {
  slot: number;
  buf: Buffer;
}

type Cut =
  | ({ kind: "chunk"; job: Omit<ChunkJob, "bytes">; input: Input; length: number } & Resume)
  | ({ kind: "rest" } & Resume);

/** Shared buffers of one size, taken and given back by index. */
class Slots {
  readonly buffers: SharedArrayBuffer[] = [];
  private readonly free: number[] = [];

  constructor(n: number, size: number) {
    for (let i = 0; i < n; i++) {
      this.buffers.push(new SharedArrayBuffer(size));
      this.free.push(i);
    }
  }

  /** A free slot, or -1. */
  take(): number {
    return this.free.pop() ?? -1;
  }

  give(i: number): void {
    if (i >= 0) this.free.push(i);
  }
}

/**
 * The walk: chunks to render, in order, then possibly the point from which the rest is read
 * sequentially. A file is read straight into the input slot of the chunk being made (the bytes
 * after a cut, which start the next chunk, are the only ones copied).
 */
async function* cuts(opts: ParallelReadOptions, inputs: Slots, slotSize: number): AsyncGenerator<Cut> {
  const walker = new Walker();
  const target = opts.chunkBytes ?? DEFAULT_CHUNK;
  const verifyChecksum = opts.verifyChecksum ?? true;
  /** A buffer for at least `size` bytes: a free slot, else (an event bigger than a chunk) one of its own. */
  const input = (size: number): Input => {
    const slot = size <= slotSize ? inputs.take() : -1;
    return slot < 0
      ? { slot: -1, buf: Buffer.allocUnsafe(Math.max(size, slotSize)) }
      : { slot, buf: Buffer.from(inputs.buffers[slot]!) };
  };
  let total = 0;
  for (let index = 0; index < opts.files.length; index++) {
    const path = opts.files[index]!;
    const file = basename(path);
    const isLast = index === opts.files.length - 1;
    const stop = isLast ? opts.stopPosition : undefined;
    let start = 0;
    let state = walker.state();
    if (state === undefined) throw new Error("unreachable: a file starts where the walk can hand over");
    let fh: FileHandle;
    try {
      fh = await openFile(path);
    } catch {
      yield { kind: "rest", index, start, state };
      return;
    }
    /** The bytes of the file from `start` on: cur.buf[0, filled). */
    let cur = input(READ_BYTES);
    try {
      if (index === 0 && opts.startPosition !== undefined && opts.startPosition > 4) {
        try {
          await walker.primeFormat(fh, file);
        } catch {
          // the sequential read fails the same way here: it primes the format the same way
          yield { kind: "rest", index, start: opts.startPosition, state };
          return;
        }
        start = opts.startPosition;
        state = walker.state()!;
      }
      const framer = new BinlogFramer(file, start);
      let filled = 0;
      /** The chunk [start, end), its buffer handed over; the bytes after it start a new one. */
      const cut = (end: number, eof: boolean, last = false): Cut => {
        const used = end - start;
        const taken = cur;
        if (!last) {
          cur = input(filled - used + READ_BYTES);
          filled = taken.buf.copy(cur.buf, 0, used, filled);
        }
        const at = state!;
        return {
          kind: "chunk",
          index,
          start,
          state: at,
          input: taken,
          length: used,
          job: { file, start, eof, state: at, format: opts.format, verifyChecksum },
        };
      };
      let pos = start;
      for (;;) {
        if (opts.signal?.aborted) return;
        if (cur.buf.length - filled < READ_BYTES) {
          // an event bigger than a chunk, or no boundary to cut at yet
          if (filled > MAX_UNCUT) {
            yield { kind: "rest", index, start, state };
            return;
          }
          const bigger: Input = { slot: -1, buf: Buffer.allocUnsafe(2 * cur.buf.length) };
          cur.buf.copy(bigger.buf, 0, 0, filled);
          inputs.give(cur.slot);
          cur = bigger;
        }
        // Up to the chunk's size, then to the end of the event that crosses it: the cut then falls
        // at the end of the bytes read, and nothing is copied to start the next chunk.
        let want = READ_BYTES;
        const open = framer.position - start;
        if (filled < target) want = Math.min(READ_BYTES, target - filled);
        else if (filled - open >= COMMON_HEADER_LENGTH) {
          const size = cur.buf.readUInt32LE(open + 9);
          if (open + size > filled) want = Math.min(READ_BYTES, open + size - filled);
        } else if (filled > open) want = COMMON_HEADER_LENGTH - (filled - open);
        let chunk: Buffer;
        try {
          chunk = await readAt(fh, pos, want, file, cur.buf.subarray(filled, filled + want));
        } catch {
          yield { kind: "rest", index, start, state };
          return;
        }
        if (chunk.length === 0) break;
        pos += chunk.length;
        filled += chunk.length;
        total += chunk.length;
        opts.onProgress?.(total);
        // The events of this read are walked before any cut (they are views into the buffer a cut hands over).
        const ends: { end: number; state: ChunkState }[] = [];
        let stopAt: number | undefined;
        let failed = false;
        try {
          let from = start;
          for (const f of framer.push(chunk)) {
            if (stop !== undefined && f.offset >= stop) {
              stopAt = f.offset;
              break;
            }
            walker.event(f.bytes, { file, offset: f.offset });
            const end = f.offset + f.bytes.length;
            if (end - from < target) continue;
            const next = walker.state();
            if (next === undefined) continue;
            ends.push({ end, state: next });
            from = end;
          }
        } catch {
          failed = true;
        }
        for (const e of ends) {
          yield cut(e.end, false);
          start = e.end;
          state = e.state;
        }
        if (stopAt !== undefined) {
          yield cut(stopAt, false, true);
          return;
        }
        if (failed) {
          yield { kind: "rest", index, start, state };
          return;
        }
      }
      // The end of the file: the rest is the last chunk (the worker checks that no event is cut short).
      // A next file must start from a state the walk can hand over, else it is read sequentially from here.
      if (!isLast && walker.state() === undefined) {
        yield { kind: "rest", index, start, state };
        return;
      }
      yield cut(pos, true, true);
    } finally {
      await fh.close();
    }
  }
}

/** Worker threads rendering chunks, each in the order sent. */
class Pool {
  private readonly workers: {
    worker: Worker;
    waiting: Map<number, (d: ChunkDone) => void>;
    ready: boolean;
  }[] = [];
  private next = 0;

  constructor(
    n: number,
    private readonly slots: SharedSlots,
    private readonly stats: ParallelReadStats | undefined,
  ) {
    const here = import.meta.url;
    const fromSource = here.endsWith(".ts");
    const url = new URL(`./binlog-file-worker.${fromSource ? "ts" : "js"}`, here);
    // the TypeScript sources run through tsx, in the workers too (registered in the thread itself)
    const script = fromSource
      ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`
      : url;
    for (let i = 0; i < n; i++) {
      const worker = new Worker(script, { workerData: slots, eval: fromSource });
      const waiting = new Map<number, (d: ChunkDone) => void>();
      const w = { worker, waiting, ready: false };
      worker.on("message", (m: ({ id: number } & ChunkDone) | { ready: true }) => {
        if ("ready" in m) {
          w.ready = true;
          return;
        }
        const done = waiting.get(m.id);
        waiting.delete(m.id);
        done?.(m);
      });
      // a worker that dies fails its chunks: they are read again sequentially
      const fail = () => {
        for (const done of waiting.values()) done({ ok: false });
        waiting.clear();
      };
      worker.on("error", fail);
      worker.on("exit", fail);
      this.workers.push(w);
    }
  }

  /**
   * Sends a chunk to the least busy worker, or renders it in this thread when every worker has
   * `busy` chunks to render already (or there is none); resolves when it is rendered.
   */
  run(m: Omit<ChunkMessage, "id">, busy: number, onlyWorkers: boolean): Promise<ChunkDone> {
    let w: (typeof this.workers)[number] | undefined;
    for (const x of this.workers)
      if ((x.ready || onlyWorkers) && (w === undefined || x.waiting.size < w.waiting.size)) w = x;
    const id = this.next++;
    if (w === undefined || (w.waiting.size >= busy && !onlyWorkers)) {
      if (this.stats) this.stats.here++;
      return Promise.resolve(runChunk({ id, ...m }, this.slots));
    }
    if (this.stats) this.stats.workers++;
    return new Promise((resolve) => {
      w!.waiting.set(id, resolve);
      w!.worker.postMessage({ id, ...m } satisfies ChunkMessage);
    });
  }

  /** Ends the threads: at once, or (`graceful`) when they have rendered what they were sent. */
  async close(graceful: boolean): Promise<void> {
    await Promise.all(
      this.workers.map(({ worker }) => {
        if (!graceful) return worker.terminate();
        const exited = new Promise((resolve) => worker.once("exit", resolve));
        worker.postMessage(null);
        return exited;
      }),
    );
  }
}

/**
 * The output of `opts.files` in `opts.format`, in order, as buffers to write out: byte for byte what
 * rendering readBinlogFileBatches' events gives, and on damage the same error, thrown after the
 * lines before it. A buffer handed out is valid until the next one is asked for (its memory is then
 * rendered into again): write it out completely first.
 */
export async function* renderBinlogFilesParallel(opts: ParallelReadOptions): AsyncGenerator<Buffer> {
  // this thread renders too, between walking the files and writing out: jobs - 1 workers
  const jobs = Math.max(1, opts.jobs);
  const target = opts.chunkBytes ?? DEFAULT_CHUNK;
  const inFlight = 2 * jobs;
  const inputSize = target + 2 * READ_BYTES;
  // in flight, and the one being filled and the next; in flight, and the one being written out
  const inputs = new Slots(inFlight + 2, inputSize);
  const outputs = new Slots(inFlight + 1, 2 * target);
  const pool = new Pool(jobs - 1, { inputs: inputs.buffers, outputs: outputs.buffers }, opts.stats);
  const queue: { at: Resume; output: number; done: Promise<ChunkDone> }[] = [];
  let rest: Resume | undefined;
  /** The walk stopped (not a worker): the chunks in flight all come before where it stopped. */
  let walkStopped = false;
  /** The output of a chunk (a view of its slot or its own bytes), or undefined when it failed. */
  const output = (d: ChunkDone, slot: number): Buffer | undefined => {
    if (!d.ok) return undefined;
    if (d.bytes !== undefined) return Buffer.from(d.bytes.buffer, d.bytes.byteOffset, d.bytes.byteLength);
    return Buffer.from(outputs.buffers[slot]!, 0, d.length);
  };
  try {
    for await (const cut of cuts(opts, inputs, inputSize)) {
      if (cut.kind === "rest") {
        rest = cut;
        walkStopped = true;
        break;
      }
      // the workers' messages (loaded, chunk rendered) are taken in before choosing who renders this
      // one: reads are synchronous, nothing else lets the event loop turn
      await yieldToEvents();
      const out = outputs.take();
      const input = cut.input;
      const done = pool
        .run(
          {
            job: cut.job,
            input: input.slot < 0 ? input.buf.subarray(0, cut.length) : input.slot,
            length: cut.length,
            output: out,
          },
          WORKER_QUEUE,
          opts.onlyWorkers === true,
        )
        .then((d) => {
          // the worker is done with the bytes
          inputs.give(input.slot);
          return d;
        });
      queue.push({ at: cut, output: out, done });
      while (queue.length >= inFlight && rest === undefined) {
        const head = queue.shift()!;
        const bytes = output(await head.done, head.output);
        if (bytes === undefined) rest = head.at;
        else yield bytes;
        outputs.give(head.output);
      }
      if (rest !== undefined) break;
    }
    while (queue.length > 0 && (rest === undefined || walkStopped)) {
      const head = queue.shift()!;
      const bytes = output(await head.done, head.output);
      if (bytes === undefined) {
        rest = head.at;
        break;
      }
      yield bytes;
      outputs.give(head.output);
    }
    await pool.close(true);
  } finally {
    await pool.close(false);
  }
  if (rest !== undefined && !opts.signal?.aborted) {
    if (opts.stats)
      opts.stats.sequentialFrom = { file: basename(opts.files[rest.index]!), offset: rest.start };
    yield* sequentialRest(opts, rest);
  }
}

/** The rest of the read from `at`, sequentially, in this thread. */
async function* sequentialRest(opts: ParallelReadOptions, at: Resume): AsyncGenerator<Buffer> {
  const decoder = resumeDecoder(at.state, {
    verifyChecksum: opts.verifyChecksum ?? true,
    ...decoderOptionsFor(opts.format),
  });
  const sink = new JsonlSink();
  try {
    for await (const batch of readBinlogFileBatches({
      files: opts.files.slice(at.index),
      resume: { decoder, position: at.start },
      reuseBuffer: true,
      ...(opts.stopPosition !== undefined ? { stopPosition: opts.stopPosition } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    })) {
      renderEvents(opts.format, batch, sink);
      if (sink.pos >= READ_BYTES) yield sink.take();
    }
  } catch (e) {
    // the lines before the damage first
    if (sink.pos > 0) yield sink.take();
    throw e;
  }
  if (sink.pos > 0) yield sink.take();
}
