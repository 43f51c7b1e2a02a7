/**
 * A growable byte buffer that JSON lines are written into, handed out in batches. Pure: no I/O; the
 * caller takes the filled bytes (take) and writes them wherever it writes.
 */
import { isPlainString } from "../jsonl-writer.ts";
import { isPlainAscii } from "./text.ts";

/** Strings at least this long are checked for escapes after they are written (see jsonString). */
const LONG_STRING = 256;

type FastBuffer = Buffer & {
  utf8Write(s: string, offset: number, length: number): number;
};

const EMPTY = Buffer.alloc(0);

export class JsonlSink {
  /** The bytes written so far are buf[0, pos). */
  buf: FastBuffer;
  /** A view of `buf` for unaligned 32-bit stores. */
  dv: DataView;
  pos = 0;
  /** The buffer last handed out by take(), for recycle(). */
  private taken: FastBuffer | undefined;

  /**
   * `size`: bytes of a fresh buffer (a batch plus room for the line that crosses it); `initial`: a
   * buffer to write into first (e.g. one whose bytes were written out), instead of a fresh one.
   */
  constructor(
    readonly size = 2 * 1024 * 1024,
    initial?: Buffer,
  ) {
    this.buf = (initial ?? Buffer.allocUnsafe(size)) as FastBuffer;
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Makes room for `n` more bytes after `pos` (moving what was written to a bigger buffer if needed). */
  reserve(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const size = Math.max(this.size, this.pos + n, this.buf.length * 2);
    const next = Buffer.allocUnsafe(size) as FastBuffer;
    this.buf.copy(next, 0, 0, this.pos);
    this.setBuffer(next);
  }

  private setBuffer(b: FastBuffer): void {
    this.buf = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.length);
  }

  /** Appends a string as UTF-8. */
  string(s: string): void {
    this.reserve(s.length * 3);
    this.pos += this.buf.utf8Write(s, this.pos, this.buf.length - this.pos);
  }

  /** Appends a string as JSON.stringify writes it. */
  jsonString(s: string): void {
    if (s.length >= LONG_STRING) {
      // written first, then its bytes checked: faster than a regular expression over the string
      this.reserve(s.length * 3 + 2);
      const b = this.buf;
      const start = this.pos;
      const n = b.utf8Write(s, start + 1, b.length - start - 1);
      if (isPlainAscii(b, start + 1, start + 1 + n)) {
        b[start] = 0x22;
        b[start + 1 + n] = 0x22;
        this.pos = start + n + 2;
        return;
      }
    }
    if (!isPlainString(s)) {
      this.string(JSON.stringify(s));
      return;
    }
    this.reserve(s.length * 3 + 2);
    const b = this.buf;
    b[this.pos++] = 0x22;
    this.pos += b.utf8Write(s, this.pos, b.length - this.pos);
    b[this.pos++] = 0x22;
  }

  /** Appends bytes. */
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    const dst = this.buf;
    let o = this.pos;
    for (let i = 0; i < b.length; i++) dst[o++] = b[i]!;
    this.pos = o;
  }

  /** Appends one byte. */
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  /**
   * The bytes written since the last take, as a view of the current buffer; later writes go to a new
   * buffer (the caller may still be writing these out), unless recycle() says these are done with.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.taken = this.buf;
    this.buf = EMPTY as FastBuffer;
    this.pos = 0;
    return out;
  }

  /** The bytes of the last take() were consumed (e.g. written synchronously): their buffer is reused. */
  recycle(): void {
    if (this.taken === undefined || this.pos !== 0) return;
    this.setBuffer(this.taken);
    this.taken = undefined;
  }

  /** Drops everything written since the last take (or from `mark` on). */
  rewind(mark = 0): void {
    this.pos = mark;
  }
}
