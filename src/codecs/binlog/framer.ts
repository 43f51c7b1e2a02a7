import { SluiceError } from "../../core/errors.ts";
import { BINLOG_MAGIC, COMMON_HEADER_LENGTH } from "./types.ts";

/** Servers cap an event at max_allowed_packet (at most 1 GiB); a larger size field is damage. */
export const MAX_EVENT_SIZE = 1024 * 1024 * 1024 + 4096;

/** One complete event as it lies in a file: its bytes and its offset. */
export interface FramedEvent {
  bytes: Buffer;
  offset: number;
}

/**
 * Push parser that cuts a binlog file's bytes into complete events. Feed it chunks in order; it
 * returns the events completed by each chunk as views into the chunk (an event spanning chunks is
 * copied once into a buffer of its own size). Pure: no I/O. The file starts with the 4-byte magic
 * unless `startOffset` > 0 says the first chunk begins at an event boundary further in.
 */
export class BinlogFramer {
  readonly file: string;
  /** File offset of the next byte to be fed. */
  private fed: number;
  /** File offset of the next event (or of the magic). */
  private next: number;
  private needMagic: boolean;
  /** Bytes of an incomplete event (or magic) carried over between chunks. */
  private carry: Buffer | undefined;
  private carryLen = 0;
  /** A damage found after some events of the same chunk: thrown on the next call. */
  private failure: unknown;

  constructor(file: string, startOffset = 0) {
    this.file = file;
    this.fed = startOffset;
    this.next = startOffset;
    this.needMagic = startOffset === 0;
  }

  /** Offset of the next event boundary (where reading can resume). */
  get position(): number {
    return this.next;
  }

  /** Bytes held back because they do not yet make a complete event. */
  get pending(): number {
    return this.fed - this.next;
  }

  /** Feeds the next chunk; returns the events it completes. Throws BINLOG_NOT_A_BINLOG / BINLOG_BAD_EVENT. */
  push(chunk: Buffer): FramedEvent[] {
    if (this.failure) throw this.failure;
    const out: FramedEvent[] = [];
    try {
      return this.scan(chunk, out);
    } catch (e) {
      // Hand out the events before the damage first; the error comes with the next call.
      if (out.length === 0) throw e;
      this.failure = e;
      return out;
    }
  }

  private scan(chunk: Buffer, out: FramedEvent[]): FramedEvent[] {
    let buf: Buffer = chunk;
    let base = this.fed; // file offset of buf[0]
    this.fed += chunk.length;
    if (this.carryLen > 0) {
      // Complete the carried magic or event: first its header (to learn its size), then the rest.
      for (;;) {
        const need = this.needMagic
          ? 4
          : this.carryLen < COMMON_HEADER_LENGTH
            ? COMMON_HEADER_LENGTH
            : this.eventSize(this.carry!, 0, this.next);
        if (this.carryLen >= need) break;
        if (this.carry!.length < need) {
          const grown = Buffer.allocUnsafe(need);
          this.carry!.copy(grown, 0, 0, this.carryLen);
          this.carry = grown;
        }
        const take = Math.min(need - this.carryLen, buf.length);
        buf.copy(this.carry!, this.carryLen, 0, take);
        this.carryLen += take;
        buf = buf.subarray(take);
        base += take;
        if (this.carryLen < need) return out;
      }
      this.emitCarried(out);
    }
    let p = 0;
    if (this.needMagic) {
      if (buf.length < 4) return this.keep(buf, 0, out);
      this.checkMagic(buf.subarray(0, 4));
      p = 4;
      this.next = base + 4;
    }
    while (buf.length - p >= COMMON_HEADER_LENGTH) {
      const size = this.eventSize(buf, p, base + p);
      if (buf.length - p < size) break;
      out.push({ bytes: buf.subarray(p, p + size), offset: base + p });
      p += size;
      this.next = base + p;
    }
    return this.keep(buf, p, out);
  }

  /** At the end of the input: throws BINLOG_TRUNCATED when an incomplete event is left over. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.pending > 0) {
      const have = this.pending;
      const size =
        this.carryLen >= COMMON_HEADER_LENGTH && !this.needMagic ? this.carry!.readUInt32LE(9) : undefined;
      throw new SluiceError(
        "BINLOG_TRUNCATED",
        this.needMagic
          ? `file ends after ${have} of the 4 magic bytes`
          : size === undefined
            ? `file ends inside an event header (${have} of ${COMMON_HEADER_LENGTH} bytes)`
            : `file ends inside an event (${have} of its ${size} bytes)`,
        {
          context: { file: this.file, offset: this.next },
          hint: "the file was cut short (copied while being written, or damaged); everything before this offset was read",
        },
      );
    }
    if (this.needMagic && this.fed === 0)
      throw new SluiceError("BINLOG_NOT_A_BINLOG", "the file is empty", {
        context: { file: this.file, offset: 0 },
      });
  }

  private emitCarried(out: FramedEvent[]): void {
    const bytes = this.carry!.subarray(0, this.carryLen);
    if (this.needMagic) {
      this.checkMagic(bytes);
      this.next += 4;
    } else {
      out.push({ bytes, offset: this.next });
      this.next += bytes.length;
    }
    this.carry = undefined;
    this.carryLen = 0;
  }

  private keep(buf: Buffer, p: number, out: FramedEvent[]): FramedEvent[] {
    const left = buf.length - p;
    if (left > 0) {
      // The carried bytes only; the buffer grows to the event's size as the next chunks complete it.
      this.carry = Buffer.allocUnsafe(Math.max(COMMON_HEADER_LENGTH, left));
      buf.copy(this.carry, 0, p);
      this.carryLen = left;
    }
    return out;
  }

  private checkMagic(b: Buffer): void {
    if (!b.equals(BINLOG_MAGIC))
      throw new SluiceError(
        "BINLOG_NOT_A_BINLOG",
        `bad magic 0x${b.toString("hex")} (a binlog starts with 0xfe62696e)`,
        {
          context: { file: this.file, offset: 0 },
          hint: "this is not a MySQL/MariaDB binary log (or it is encrypted at the file level)",
        },
      );
    this.needMagic = false;
  }

  private eventSize(buf: Buffer, p: number, offset: number): number {
    const size = buf.readUInt32LE(p + 9);
    if (size > MAX_EVENT_SIZE)
      throw new SluiceError("BINLOG_BAD_EVENT", `event size ${size} is beyond the 1 GiB servers can write`, {
        context: { file: this.file, offset },
        hint: "the file is damaged at this offset; everything before it was read",
      });
    if (size < COMMON_HEADER_LENGTH)
      throw new SluiceError(
        "BINLOG_BAD_EVENT",
        `event size ${size} is below the ${COMMON_HEADER_LENGTH}-byte header`,
        {
          context: { file: this.file, offset },
          hint: "the file is damaged at this offset; everything before it was read",
        },
      );
    return size;
  }
}
