/**
 * Binlog files on disk as a stream of decoded events: one or more files in order, read in chunks
 * (bounded memory: a chunk plus the largest event), each checked for the magic, decoded with one
 * BinlogEventDecoder so that format, table maps and GTIDs carry across. `follow` keeps reading a file
 * that is still being written and moves on to the next one after its ROTATE (or STOP).
 */
import { readSync } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BinlogEventDecoder, type BinlogEventDecoderOptions } from "../codecs/binlog/decoder.ts";
import { nextBinlogFileName } from "../codecs/binlog/events/rotate.ts";
import { type BinlogEvent, flattenEvents } from "../codecs/binlog/events.ts";
import { BinlogFramer } from "../codecs/binlog/framer.ts";
import { EventFlag } from "../codecs/binlog/types.ts";
import { messageOf, SluiceError } from "../core/errors.ts";

export interface BinlogFileReadOptions {
  /** Files to read, in order. With `follow`, later files are found through ROTATE events. */
  files: string[];
  /** Keep reading at the end of the last file: wait for more bytes, follow ROTATE to the next file. */
  follow?: boolean;
  /** Start at this event offset of the first file (its FORMAT_DESCRIPTION is still read first). */
  startPosition?: number;
  /** Stop before the first event at or beyond this offset of the last file. */
  stopPosition?: number;
  /** Verify CRC32 checksums (default true). */
  verifyChecksum?: boolean;
  /** Bytes per read (default 1 MiB). */
  chunkSize?: number;
  /** How often to look for more bytes in follow mode (default 250 ms). */
  pollIntervalMs?: number;
  signal?: AbortSignal;
  /** Called after each chunk with the total bytes read so far (all files). */
  onProgress?: (bytesRead: number) => void;
  /** Decoder options (rows codec, flavor); one decoder serves all files. */
  decoder?: BinlogEventDecoderOptions;
  /**
   * Read every chunk into the same buffer. Events are views into it (their bytes, rows still to be
   * decoded): each one must be done with before the next is asked for, as a writer that prints each
   * event as it comes is. Saves the allocation (and the page faults) of a buffer per chunk.
   */
  reuseBuffer?: boolean;
  /**
   * Continue with this decoder (instead of a new one) at this offset of the first file (an event
   * boundary; instead of startPosition), e.g. where a parallel read gave up splitting the file.
   */
  resume?: { decoder: BinlogEventDecoder; position: number };
}

const DEFAULT_CHUNK = 1024 * 1024;

/** Feedback from the decoded events to the reader: where the file says the log goes next. */
interface FileState {
  /** Set when a ROTATE (not artificial) or STOP ended the file: the name of the next file. */
  nextFile: string | undefined;
  /** Set when the stop position was reached. */
  stopped: boolean;
}

/**
 * Decodes the complete events of each chunk of one file, in order, the inner events of a
 * transaction payload after it. When an event is damaged (or the file turns encrypted), the events
 * before it are returned first and the error is thrown by the next call.
 */
class ChunkDecoder {
  private readonly framer: BinlogFramer;
  private failure: unknown;
  /** The stop position was reached: nothing more is decoded. */
  done = false;

  constructor(
    private readonly file: string,
    private readonly decoder: BinlogEventDecoder,
    private readonly stopPosition: number | undefined,
    private readonly state: FileState,
    startOffset: number,
  ) {
    this.framer = new BinlogFramer(file, startOffset);
  }

  push(chunk: Buffer): BinlogEvent[] {
    if (this.failure !== undefined) throw this.failure;
    const out: BinlogEvent[] = [];
    try {
      for (const framed of this.framer.push(chunk)) {
        if (this.stopPosition !== undefined && framed.offset >= this.stopPosition) {
          this.state.stopped = true;
          this.done = true;
          break;
        }
        const ev = this.decoder.decode(framed.bytes, { file: this.file, offset: framed.offset });
        if (ev.type === "transaction_payload") for (const e of flattenEvents(ev)) out.push(e);
        else out.push(ev);
        this.follow(ev);
      }
    } catch (e) {
      if (out.length === 0) throw e;
      this.failure = e;
    }
    return out;
  }

  /** Throws the damage found in the last chunk; with `eof`, also when the bytes ended inside an event. */
  end(eof = true): void {
    if (this.failure !== undefined) throw this.failure;
    if (eof) this.framer.end();
  }

  /** Where the file says the log goes next; START_ENCRYPTION ends the readable part. */
  private follow(ev: BinlogEvent): void {
    const file = this.file;
    if (ev.type === "rotate" && (ev.header.flags & EventFlag.ARTIFICIAL) === 0 && ev.header.logPos !== 0)
      this.state.nextFile = ev.nextFile;
    else if (ev.type === "stop") this.state.nextFile = nextBinlogFileName(file);
    else if (ev.type === "mariadb_start_encryption")
      throw new SluiceError(
        "BINLOG_ENCRYPTED",
        "the rest of this binlog is encrypted (MariaDB encrypt_binlog); it cannot be read without the key",
        {
          context: { file, offset: ev.position.next },
          hint: "read it through the server with `sluice binlog stream`, which receives it decrypted",
        },
      );
  }
}

interface ChunkOptions {
  startOffset?: number;
  stopPosition?: number;
  state?: FileState;
}

/** decodeBinlogChunks, a chunk's events at a time. */
async function* decodeChunkBatches(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  file: string,
  decoder: BinlogEventDecoder,
  opts: ChunkOptions,
): AsyncGenerator<BinlogEvent[]> {
  const state = opts.state ?? { nextFile: undefined, stopped: false };
  const cd = new ChunkDecoder(file, decoder, opts.stopPosition, state, opts.startOffset ?? 0);
  for await (const chunk of chunks) {
    const events = cd.push(chunk);
    if (events.length > 0) yield events;
    if (cd.done) return;
  }
  cd.end();
}

/**
 * Decodes the events in `chunks` (consecutive bytes of one file starting at `startOffset`; 0 = the
 * magic). Yields events in order, the inner events of a transaction payload after it. Throws
 * BINLOG_TRUNCATED when the bytes end inside an event, BINLOG_ENCRYPTED after START_ENCRYPTION.
 */
export async function* decodeBinlogChunks(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  file: string,
  decoder: BinlogEventDecoder,
  opts: ChunkOptions = {},
): AsyncGenerator<BinlogEvent> {
  for await (const events of decodeChunkBatches(chunks, file, decoder, opts)) yield* events;
}

/**
 * Decodes the events in `bytes` (the bytes of `file` from offset `startOffset`, 0 = the magic, to an
 * event boundary, or to the end of the file when `eof`) in order, the inner events of a transaction
 * payload after it, handing them to `each` a `step` of bytes at a time (few events alive at once);
 * throws what decodeBinlogChunks would throw, at the first damage.
 */
export function decodeBinlogRange(
  bytes: Buffer,
  file: string,
  decoder: BinlogEventDecoder,
  startOffset: number,
  eof: boolean,
  each: (events: BinlogEvent[]) => void,
  step = DEFAULT_CHUNK,
): void {
  const cd = new ChunkDecoder(file, decoder, undefined, { nextFile: undefined, stopped: false }, startOffset);
  for (let p = 0; p < bytes.length; p += step) {
    const events = cd.push(bytes.subarray(p, Math.min(bytes.length, p + step)));
    if (events.length > 0) each(events);
  }
  cd.end(eof);
}

/** A read buffer that came back empty (EOF while following): nothing refers to it, so it is reused. */
let spare: Buffer | undefined;

export async function readAt(
  fh: FileHandle,
  pos: number,
  size: number,
  file: string,
  into?: Buffer,
): Promise<Buffer> {
  // Each chunk gets its own buffer (the events handed out are views into it), unless the caller's is given.
  const buf = into ?? (spare && spare.length === size ? spare : Buffer.allocUnsafe(size));
  if (into === undefined) spare = undefined;
  try {
    // A synchronous read: from the page cache it takes less than a thread pool round trip, which on
    // a busy machine waits for a core (measured: the better part of a parallel read's wall time).
    const bytesRead = readSync(fh.fd, buf, 0, size, pos);
    if (bytesRead === 0 && into === undefined) spare = buf;
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw new SluiceError("BINLOG_READ", `cannot read: ${messageOf(e)}`, {
      context: { file, offset: pos },
      cause: e,
    });
  }
}

export async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (e) {
    throw new SluiceError("BINLOG_OPEN", `cannot open binlog file: ${messageOf(e)}`, {
      context: { file: path },
      hint: "check the path and that you may read it (binlogs are usually readable by the mysql user only)",
      cause: e,
    });
  }
}

/**
 * Decodes the FORMAT_DESCRIPTION at offset 4 of a file into `decoder` without yielding it; returns
 * its bytes (undefined when there is none).
 */
export async function primeFormat(
  fh: FileHandle,
  file: string,
  decoder: BinlogEventDecoder,
): Promise<Buffer | undefined> {
  const head = await readAt(fh, 0, 23, file);
  if (head.length < 23) return undefined;
  const size = head.readUInt32LE(4 + 9);
  if (head[4 + 4] !== 15 || size > 64 * 1024) return undefined;
  const buf = await readAt(fh, 0, 4 + size, file);
  const framer = new BinlogFramer(file);
  let fd: Buffer | undefined;
  for (const f of framer.push(buf)) {
    decoder.decode(f.bytes, { file, offset: f.offset });
    fd = f.bytes;
  }
  return fd;
}

/**
 * Reads binlog files as an async iterator of events. Stops at the end of the last file (or at
 * `stopPosition`); with `follow`, waits for more bytes and follows ROTATE to the next file in the
 * same directory until `signal` aborts.
 */
export async function* readBinlogFiles(opts: BinlogFileReadOptions): AsyncGenerator<BinlogEvent> {
  for await (const events of readBinlogFileBatches(opts)) yield* events;
}

/**
 * readBinlogFiles, the events of a read chunk at a time (one step of the iterator per chunk rather
 * than per event). With `reuseBuffer`, a batch's events are done with before the next is asked for.
 */
export async function* readBinlogFileBatches(opts: BinlogFileReadOptions): AsyncGenerator<BinlogEvent[]> {
  const decoder =
    opts.resume?.decoder ??
    new BinlogEventDecoder({ verifyChecksum: opts.verifyChecksum ?? true, ...opts.decoder });
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
  const poll = opts.pollIntervalMs ?? 250;
  const queue = [...opts.files];
  const shared = opts.reuseBuffer ? Buffer.allocUnsafe(chunkSize) : undefined;
  let total = 0;
  let first = true;
  while (queue.length > 0) {
    const path = queue.shift()!;
    const isLast = queue.length === 0;
    const file = basename(path);
    const fh = await openFile(path);
    try {
      let pos = 0;
      if (first && opts.resume !== undefined) pos = opts.resume.position;
      else if (first && opts.startPosition !== undefined && opts.startPosition > 4) {
        await primeFormat(fh, file, decoder);
        pos = opts.startPosition;
      }
      first = false;
      const state: FileState = { nextFile: undefined, stopped: false };
      const follow = Boolean(opts.follow) && isLast;
      const signal = opts.signal;
      async function* chunks(): AsyncGenerator<Buffer> {
        for (;;) {
          if (signal?.aborted) return;
          const chunk = await readAt(fh, pos, chunkSize, file, shared);
          if (chunk.length > 0) {
            pos += chunk.length;
            total += chunk.length;
            opts.onProgress?.(total);
            yield chunk;
            continue;
          }
          if (!follow || state.nextFile !== undefined || state.stopped) return;
          try {
            await sleep(poll, undefined, signal ? { signal } : undefined);
          } catch {
            return; // aborted
          }
        }
      }
      yield* decodeChunkBatches(chunks(), file, decoder, {
        startOffset: pos,
        state,
        ...(isLast && opts.stopPosition !== undefined ? { stopPosition: opts.stopPosition } : {}),
      });
      if (state.stopped || opts.signal?.aborted) return;
      if (follow && state.nextFile !== undefined) {
        const next = join(dirname(path), basename(state.nextFile));
        while (!(await exists(next))) {
          if (opts.signal?.aborted) return;
          try {
            await sleep(poll, undefined, opts.signal ? { signal: opts.signal } : undefined);
          } catch {
            return;
          }
        }
        queue.push(next);
      }
    } finally {
      await fh.close();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Bytes a read of the files goes through (for progress, and the default --jobs): their sizes, from
 * `startPosition` in the first and up to `stopPosition` in the last; 0 for files that cannot be read.
 */
export async function totalSize(
  files: string[],
  range: { startPosition?: number; stopPosition?: number } = {},
): Promise<number> {
  let sum = 0;
  for (let i = 0; i < files.length; i++) {
    let size: number;
    try {
      size = (await stat(files[i]!)).size;
    } catch {
      // reported when the file is opened
      continue;
    }
    const end = i === files.length - 1 ? Math.min(size, range.stopPosition ?? size) : size;
    const start = i === 0 ? Math.min(end, range.startPosition ?? 0) : 0;
    sum += end - start;
  }
  return sum;
}
