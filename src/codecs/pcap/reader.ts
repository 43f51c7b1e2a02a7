import { SluiceError } from "../../core/errors.ts";
import {
  decodePcapGlobalHeader,
  decodePcapRecordHeader,
  isPcapMagic,
  PCAP_GLOBAL_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  type PcapGlobalHeader,
} from "./pcap.ts";
import {
  decodeInterfaceBlock,
  decodeStatisticsBlock,
  isPcapngMagic,
  PCAPNG_EPB,
  PCAPNG_IDB,
  PCAPNG_ISB,
  PCAPNG_OPB,
  PCAPNG_SHB,
  PCAPNG_SPB,
  type PcapngInterface,
  sectionLittleEndian,
  timestampMicros,
} from "./pcapng.ts";
import { type CapturedFrame, type InterfaceStatistics, MAX_RECORD_LENGTH } from "./record.ts";

export type CaptureFileFormat = "pcap" | "pcapng";

export interface CaptureFileParserOptions {
  /** Named in error contexts. */
  file?: string;
  onStatistics?: (stats: InterfaceStatistics) => void;
}

/**
 * A push parser for pcap and pcapng (detected from the first 4 bytes): feed chunks with `push`, get
 * one `onFrame` call per captured frame, in file order, then call `end()` to check nothing was cut.
 *
 * Memory stays bounded: a record lying whole inside a chunk is passed as a view of it; only a record
 * split across chunks is copied, into a buffer of that record's size (at most MAX_RECORD_LENGTH).
 * Frames are views: use (or copy) `data` before the next push.
 */
export class CaptureFileParser {
  private readonly onFrame: (frame: CapturedFrame) => void;
  private readonly options: CaptureFileParserOptions;
  private format: CaptureFileFormat | undefined;
  private pcapHeader: PcapGlobalHeader | undefined;
  private littleEndian = true;
  private interfaces: PcapngInterface[] = [];
  /** Bytes of a record split across chunks. */
  private partial: Buffer = Buffer.alloc(0);
  /** File offset of the first byte not yet consumed (the start of `partial` when it is non-empty). */
  private offset = 0;
  frames = 0;

  constructor(onFrame: (frame: CapturedFrame) => void, options: CaptureFileParserOptions = {}) {
    this.onFrame = onFrame;
    this.options = options;
  }

  get fileFormat(): CaptureFileFormat | undefined {
    return this.format;
  }

  /** Offset in the file of the next unread byte. */
  get position(): number {
    return this.offset + this.partial.length;
  }

  push(chunk: Buffer): void {
    let cpos = 0;
    // Complete a record split across chunks: grow `partial` by just what the record needs.
    while (this.partial.length > 0 && cpos < chunk.length) {
      const need = this.recordLength(this.partial, 0);
      const want = need < 0 ? this.headerLength() : need;
      const take = Math.min(want - this.partial.length, chunk.length - cpos);
      this.partial = Buffer.concat([this.partial, chunk.subarray(cpos, cpos + take)]);
      cpos += take;
      if (this.partial.length < want) return;
      if (need < 0) continue; // the header is complete now: ask again for the record length
      const record = this.partial;
      this.partial = Buffer.alloc(0);
      this.consume(record, 0, record.length);
      this.offset += record.length;
    }
    let pos = cpos;
    while (pos < chunk.length) {
      const need = this.recordLength(chunk, pos);
      if (need < 0 || pos + need > chunk.length) break;
      this.consume(chunk, pos, need);
      pos += need;
      this.offset += need;
    }
    if (pos < chunk.length) this.partial = Buffer.from(chunk.subarray(pos));
  }

  /** Throws PCAP_TRUNCATED when the input stopped inside a record. */
  end(): void {
    if (this.partial.length === 0 && this.format !== undefined) return;
    const need = this.partial.length > 0 ? this.recordLength(this.partial, 0) : -1;
    throw new SluiceError(
      "PCAP_TRUNCATED",
      this.format === undefined
        ? `capture file ends after ${this.partial.length} bytes, before its header`
        : `capture file ends inside a record: ${this.partial.length} of ${need < 0 ? "?" : need} bytes`,
      {
        context: { file: this.options.file, offset: this.offset, frames: this.frames },
        hint: "the capture was cut short (disk full, tcpdump killed); the frames before it were decoded",
      },
    );
  }

  private headerLength(): number {
    if (this.format === undefined) return 4;
    if (this.format === "pcap")
      return this.pcapHeader ? PCAP_RECORD_HEADER_LENGTH : PCAP_GLOBAL_HEADER_LENGTH;
    return 12;
  }

  /** Length of the record starting at `pos`, or -1 when its header is not all there yet. */
  private recordLength(buf: Buffer, pos: number): number {
    const avail = buf.length - pos;
    if (this.format === undefined) {
      if (avail < 4) return -1;
      if (isPcapngMagic(buf, pos)) this.format = "pcapng";
      else if (isPcapMagic(buf, pos)) this.format = "pcap";
      else
        throw new SluiceError(
          "PCAP_BAD_MAGIC",
          `not a pcap or pcapng file (starts with ${buf.toString("hex", pos, pos + 4)})`,
          {
            context: { file: this.options.file, offset: this.offset },
            hint: "write captures with tcpdump -w FILE (pcap) or --pcapng / tshark -F pcapng",
          },
        );
    }
    if (this.format === "pcap") {
      if (!this.pcapHeader) return avail < PCAP_GLOBAL_HEADER_LENGTH ? -1 : PCAP_GLOBAL_HEADER_LENGTH;
      if (avail < PCAP_RECORD_HEADER_LENGTH) return -1;
      const h = decodePcapRecordHeader(buf, pos, this.pcapHeader);
      if (h.capturedLength > MAX_RECORD_LENGTH)
        this.damaged(`record claims ${h.capturedLength} captured bytes`);
      return PCAP_RECORD_HEADER_LENGTH + h.capturedLength;
    }
    if (avail < 12) return -1;
    const type = buf.readUInt32LE(pos);
    if (type === PCAPNG_SHB) this.littleEndian = sectionLittleEndian(buf, pos, this.options.file);
    const total = this.littleEndian ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
    if (total < 12 || total % 4 !== 0 || total > MAX_RECORD_LENGTH)
      this.damaged(`block of type ${type} has impossible length ${total}`);
    return total;
  }

  private damaged(why: string): never {
    throw new SluiceError("PCAP_DAMAGED", `damaged capture file: ${why}`, {
      context: { file: this.options.file, offset: this.offset, frames: this.frames },
      hint: "the file is corrupt from here on; the frames before this offset were decoded",
    });
  }

  private consume(buf: Buffer, pos: number, length: number): void {
    if (this.format === "pcap") {
      if (!this.pcapHeader) {
        this.pcapHeader = decodePcapGlobalHeader(buf, pos, this.options.file);
        return;
      }
      const h = decodePcapRecordHeader(buf, pos, this.pcapHeader);
      this.frames++;
      this.onFrame({
        linkType: this.pcapHeader.linkType,
        timestampUs: h.timestampUs,
        data: buf.subarray(pos + PCAP_RECORD_HEADER_LENGTH, pos + length),
        originalLength: h.originalLength,
        interfaceId: 0,
        offset: this.offset,
      });
      return;
    }
    this.consumeBlock(buf, pos, length);
  }

  private consumeBlock(buf: Buffer, pos: number, total: number): void {
    const le = this.littleEndian;
    const u32 = (o: number) => (le ? buf.readUInt32LE(pos + o) : buf.readUInt32BE(pos + o));
    const type = buf.readUInt32LE(pos) === PCAPNG_SHB ? PCAPNG_SHB : u32(0);
    const end = pos + total - 4;
    if (u32(total - 4) !== total)
      this.damaged(`block of type ${type}: trailing length ${u32(total - 4)} != ${total}`);
    switch (type) {
      case PCAPNG_SHB:
        this.interfaces = []; // interface ids are per section
        return;
      case PCAPNG_IDB:
        if (total < 20) this.damaged("interface block too short");
        this.interfaces.push(decodeInterfaceBlock(buf, pos, end, le));
        return;
      case PCAPNG_EPB:
      case PCAPNG_OPB: {
        if (total < 32) this.damaged("packet block too short");
        const interfaceId =
          type === PCAPNG_EPB ? u32(8) : le ? buf.readUInt16LE(pos + 8) : buf.readUInt16BE(pos + 8);
        const iface = this.interface(interfaceId);
        const captured = u32(20);
        if (28 + captured > end - pos)
          this.damaged(`packet block claims ${captured} captured bytes in a ${total}-byte block`);
        this.frames++;
        this.onFrame({
          linkType: iface.linkType,
          timestampUs: timestampMicros(u32(12), u32(16), iface.unitsPerSecond),
          data: buf.subarray(pos + 28, pos + 28 + captured),
          originalLength: u32(24),
          interfaceId,
          offset: this.offset,
        });
        return;
      }
      case PCAPNG_SPB: {
        if (total < 16) this.damaged("simple packet block too short");
        const iface = this.interface(0);
        const original = u32(8);
        let captured = Math.min(original, end - pos - 12);
        if (iface.snapLength > 0) captured = Math.min(captured, iface.snapLength);
        this.frames++;
        // SPBs carry no timestamp.
        this.onFrame({
          linkType: iface.linkType,
          timestampUs: 0,
          data: buf.subarray(pos + 12, pos + 12 + captured),
          originalLength: original,
          interfaceId: 0,
          offset: this.offset,
        });
        return;
      }
      case PCAPNG_ISB:
        if (total >= 24 && this.options.onStatistics)
          this.options.onStatistics(decodeStatisticsBlock(buf, pos, end, le));
        return;
      default:
        return; // name resolution, custom and other blocks carry nothing Sluice needs
    }
  }

  private interface(id: number): PcapngInterface {
    const iface = this.interfaces[id];
    if (!iface)
      this.damaged(`packet refers to interface ${id}, but the section declared ${this.interfaces.length}`);
    return iface;
  }
}
