import { SluiceError } from "../../core/errors.ts";

/**
 * A cursor over one frame of a Buffer (an event body, a status-var block, a metadata field). Every read
 * is bounded by the frame's `end`, never by the buffer's length, and a read past it throws
 * BINLOG_TRUNCATED naming what was being read and the absolute offset (`base + pos`) when known.
 * Byte ranges are `subarray` views: nothing is copied.
 */
export class ByteReader {
  readonly buf: Buffer;
  /** Index in `buf` of the next byte to read. */
  pos: number;
  /** Index in `buf` one past the last readable byte. */
  readonly end: number;
  /** Added to `pos` in error contexts so that they name a file offset (0 when unknown). */
  base: number;
  /** Added to error contexts (e.g. the file name). */
  file: string | undefined;

  constructor(buf: Buffer, start = 0, end: number = buf.length) {
    if (start < 0 || end > buf.length || start > end)
      throw new SluiceError(
        "BINLOG_TRUNCATED",
        `frame ${start}..${end} lies outside a ${buf.length}-byte buffer`,
        {
          context: { start, end, length: buf.length },
        },
      );
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.base = 0;
    this.file = undefined;
  }

  /** Bytes left in the frame. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Names the absolute position for error messages: `base` is the file offset of `buf[0]`. */
  at(file: string | undefined, base: number): this {
    this.file = file;
    this.base = base;
    return this;
  }

  /** Throws BINLOG_TRUNCATED unless `n` bytes remain; `what` says what was being read. */
  need(n: number, what = "bytes"): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new SluiceError(
        "BINLOG_TRUNCATED",
        `${what}: needs ${n} byte${n === 1 ? "" : "s"}, only ${this.remaining} left in the frame`,
        {
          context: { what, file: this.file, offset: this.base + this.pos, need: n, left: this.remaining },
          hint: "the event is shorter than its fields say: the file or stream is damaged or truncated",
        },
      );
    }
  }

  skip(n: number, what = "skipped bytes"): void {
    this.need(n, what);
    this.pos += n;
  }

  u8(what = "u8"): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = "u16"): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(what = "u24"): number {
    this.need(3, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 3;
    return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
  }

  u32(what = "u32"): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u40(what = "u40"): number {
    this.need(5, what);
    const v = this.buf.readUIntLE(this.pos, 5);
    this.pos += 5;
    return v;
  }

  u48(what = "u48"): number {
    this.need(6, what);
    const v = this.buf.readUIntLE(this.pos, 6);
    this.pos += 6;
    return v;
  }

  /** Unsigned 56-bit; returned as a number when exact (< 2^53), else as bigint. */
  u56(what = "u56"): number | bigint {
    this.need(7, what);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUIntLE(this.pos + 4, 3);
    this.pos += 7;
    if (hi < 0x200000) return hi * 0x100000000 + lo;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  u64(what = "u64"): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  i8(what = "i8"): number {
    this.need(1, what);
    return this.buf.readInt8(this.pos++);
  }

  i16(what = "i16"): number {
    this.need(2, what);
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  i24(what = "i24"): number {
    const v = this.u24(what);
    return v & 0x800000 ? v - 0x1000000 : v;
  }

  i32(what = "i32"): number {
    this.need(4, what);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i64(what = "i64"): bigint {
    this.need(8, what);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Big-endian unsigned of 1..6 bytes (DECIMAL, temporal and BIT packing use big-endian). */
  uintBE(n: number, what = "big-endian int"): number {
    this.need(n, what);
    const v = n === 0 ? 0 : this.buf.readUIntBE(this.pos, n);
    this.pos += n;
    return v;
  }

  floatLE(what = "float"): number {
    this.need(4, what);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  doubleLE(what = "double"): number {
    this.need(8, what);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * Length-encoded integer (protocol "int<lenenc>"): < 0xfb is the value, 0xfc u16, 0xfd u24, 0xfe u64;
   * 0xfb is SQL NULL (null). 64-bit values come back as bigint only when they exceed 2^53.
   */
  lenencInt(what = "length-encoded int"): number | bigint | null {
    const first = this.u8(what);
    if (first < 0xfb) return first;
    switch (first) {
      case 0xfb:
        return null;
      case 0xfc:
        return this.u16(what);
      case 0xfd:
        return this.u24(what);
      case 0xfe: {
        const v = this.u64(what);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      default:
        throw new SluiceError("BINLOG_BAD_VALUE", `${what}: invalid length-encoded int prefix 0xff`, {
          context: { what, file: this.file, offset: this.base + this.pos - 1 },
        });
    }
  }

  /** A length-encoded integer used as a length or count: must be a non-null safe number. */
  lenencLength(what = "length"): number {
    const at = this.pos;
    const v = this.lenencInt(what);
    if (typeof v !== "number")
      throw new SluiceError("BINLOG_BAD_VALUE", `${what}: length ${String(v)} is not usable`, {
        context: { what, file: this.file, offset: this.base + at },
      });
    return v;
  }

  /**
   * "Packed integer" of the binlog (net_field_length, also used by MariaDB GTID lists and MySQL row
   * metadata): same encoding as lenencInt; 0xfb decodes as null.
   */
  packedInt(what = "packed int"): number | bigint | null {
    return this.lenencInt(what);
  }

  /** `n` bytes as a view (no copy). */
  bytes(n: number, what = "bytes"): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Everything left in the frame, as a view. */
  rest(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }

  /** Length-encoded byte string (lenenc length, then that many bytes). */
  lenencBytes(what = "length-encoded bytes"): Buffer {
    const n = this.lenencLength(what);
    return this.bytes(n, what);
  }

  /** A string of `n` bytes in `encoding` (default utf8). */
  string(n: number, what = "string", encoding: BufferEncoding = "utf8"): string {
    this.need(n, what);
    const s = this.buf.toString(encoding, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** Bytes up to a NUL (consumed, not returned); without a NUL inside the frame: BINLOG_TRUNCATED. */
  nullTerminatedString(what = "NUL-terminated string", encoding: BufferEncoding = "utf8"): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) {
      throw new SluiceError("BINLOG_TRUNCATED", `${what}: no terminating NUL before the end of the frame`, {
        context: { what, file: this.file, offset: this.base + this.pos },
      });
    }
    const s = this.buf.toString(encoding, this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  /** A sub-reader over the next `n` bytes (advances this one past them). */
  sub(n: number, what = "sub-frame"): ByteReader {
    this.need(n, what);
    const r = new ByteReader(this.buf, this.pos, this.pos + n);
    r.base = this.base;
    r.file = this.file;
    this.pos += n;
    return r;
  }
}
