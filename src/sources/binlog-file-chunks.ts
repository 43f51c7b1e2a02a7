/**
 * A binlog file cut into chunks at event boundaries, each decoded and rendered on its own (in a
 * worker thread) exactly as a sequential read decodes it: a chunk carries the decoder's state at its
 * first byte (the FORMAT_DESCRIPTION and TABLE_MAP events in force, as their bytes, and the open
 * transaction), and a fresh decoder decodes those first. Pure: bytes in, bytes out.
 */
import {
  BinlogEventDecoder,
  type BinlogEventDecoderOptions,
  type DecoderCarry,
} from "../codecs/binlog/decoder.ts";
import { type BinlogOutputFormat, decoderOptionsFor, renderEvents } from "../codecs/binlog/render.ts";
import { JsonlSink } from "../codecs/binlog/rows-json/sink.ts";
import { decodeBinlogRange } from "./binlog-file.ts";

/** One complete event as it lies in a file. */
export interface RawEvent {
  bytes: Uint8Array;
  file: string;
  offset: number;
}

/** What a decoder holds at an event boundary, as bytes to decode again (structured-cloneable). */
export interface ChunkState {
  /** The FORMAT_DESCRIPTION in force (none before the first). */
  format: RawEvent | undefined;
  /** The TABLE_MAP events in force, in the order they came. */
  tables: RawEvent[];
  carry: DecoderCarry;
}

/** A chunk of a file for a worker: the bytes of `file` from offset `start` to an event boundary (or to the end of the file). */
export interface ChunkJob {
  file: string;
  start: number;
  bytes: Uint8Array;
  /** The bytes run to the end of the file: an event cut short there is damage. */
  eof: boolean;
  state: ChunkState;
  format: BinlogOutputFormat;
  verifyChecksum: boolean;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A decoder in `state`: it decodes the next events exactly as the decoder `state` was taken from. */
export function resumeDecoder(state: ChunkState, opts: BinlogEventDecoderOptions): BinlogEventDecoder {
  const decoder = new BinlogEventDecoder(opts);
  if (state.format !== undefined)
    decoder.decode(asBuffer(state.format.bytes), { file: state.format.file, offset: state.format.offset });
  for (const t of state.tables) decoder.decode(asBuffer(t.bytes), { file: t.file, offset: t.offset });
  decoder.resume(state.carry);
  return decoder;
}

/** Appends the output of one chunk to `sink`; throws at the first damage (what the sequential read throws there). */
export function renderChunk(job: ChunkJob, sink: JsonlSink): void {
  const decoder = resumeDecoder(job.state, {
    verifyChecksum: job.verifyChecksum,
    ...decoderOptionsFor(job.format),
  });
  decodeBinlogRange(asBuffer(job.bytes), job.file, decoder, job.start, job.eof, (events) =>
    renderEvents(job.format, events, sink),
  );
}

/** The buffers shared by the threads of a parallel read: chunks are read into `inputs` and rendered into `outputs`. */
export interface SharedSlots {
  inputs: SharedArrayBuffer[];
  outputs: SharedArrayBuffer[];
}

/** A chunk to render, as sent to a thread. */
export interface ChunkMessage {
  id: number;
  job: Omit<ChunkJob, "bytes">;
  /** An input slot (the bytes are its first `length`), or the bytes themselves. */
  input: number | Uint8Array;
  length: number;
  /** The output slot to render into; -1 for none. */
  output: number;
}

/** A rendered chunk: the output's length in its slot, or the output itself (it outgrew the slot); not ok when it failed. */
export interface ChunkDone {
  ok: boolean;
  length?: number;
  bytes?: Uint8Array;
}

/**
 * Renders the chunk of `m` from its input slot into its output slot (nothing is handed over between
 * threads, so no buffer is ever detached: V8 optimizes typed array code less well in a thread once
 * any buffer was). Not ok on damage: the caller reads that chunk again sequentially.
 */
export function runChunk(m: ChunkMessage, slots: SharedSlots): ChunkDone {
  const bytes = typeof m.input === "number" ? Buffer.from(slots.inputs[m.input]!, 0, m.length) : m.input;
  const shared = m.output < 0 ? undefined : Buffer.from(slots.outputs[m.output]!);
  const sink = new JsonlSink(Math.max(64 * 1024, 2 * bytes.length), shared);
  try {
    renderChunk({ ...m.job, bytes }, sink);
  } catch {
    return { ok: false };
  }
  const out = sink.take();
  return shared !== undefined && out.buffer === shared.buffer
    ? { ok: true, length: out.length }
    : { ok: true, bytes: out };
}
