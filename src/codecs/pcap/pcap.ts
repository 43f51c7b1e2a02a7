import { SluiceError } from "../../core/errors.ts";

/**
 * Classic libpcap file format.
 *
 *   global header (24 bytes): u32 magic | u16 version_major (2) | u16 version_minor (4) | i32 thiszone
 *                             u32 sigfigs | u32 snaplen | u32 linktype (low 16 bits; upper bits: FCS info)
 *   record header (16 bytes): u32 ts_sec | u32 ts_usec (or ts_nsec) | u32 incl_len | u32 orig_len
 *
 * The magic says the byte order (a1b2c3d4 written in the writer's order) and the timestamp resolution
 * (a1b23c4d: nanoseconds).
 */
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;

export interface PcapGlobalHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snapLength: number;
  linkType: number;
}

/** True when the 4 bytes at `pos` are a classic pcap magic number (either byte order). */
export function isPcapMagic(buf: Buffer, pos = 0): boolean {
  if (buf.length < pos + 4) return false;
  const le = buf.readUInt32LE(pos);
  const be = buf.readUInt32BE(pos);
  return le === MAGIC_MICRO || le === MAGIC_NANO || be === MAGIC_MICRO || be === MAGIC_NANO;
}

export function decodePcapGlobalHeader(buf: Buffer, pos: number, file: string | undefined): PcapGlobalHeader {
  const le = buf.readUInt32LE(pos);
  const littleEndian = le === MAGIC_MICRO || le === MAGIC_NANO;
  const magic = littleEndian ? le : buf.readUInt32BE(pos);
  if (magic !== MAGIC_MICRO && magic !== MAGIC_NANO) {
    throw new SluiceError("PCAP_BAD_MAGIC", `not a pcap file: magic 0x${le.toString(16)}`, {
      context: { file, offset: pos },
      hint: "expected a pcap (tcpdump -w) or pcapng file",
    });
  }
  const u16 = (o: number) => (littleEndian ? buf.readUInt16LE(pos + o) : buf.readUInt16BE(pos + o));
  const u32 = (o: number) => (littleEndian ? buf.readUInt32LE(pos + o) : buf.readUInt32BE(pos + o));
  const header: PcapGlobalHeader = {
    littleEndian,
    nanoseconds: magic === MAGIC_NANO,
    versionMajor: u16(4),
    versionMinor: u16(6),
    snapLength: u32(16),
    linkType: u32(20) & 0xffff,
  };
  if (header.versionMajor !== 2) {
    throw new SluiceError(
      "PCAP_BAD_VERSION",
      `unsupported pcap version ${header.versionMajor}.${header.versionMinor}`,
      {
        context: { file, offset: pos + 4 },
        hint: "only pcap version 2.x is defined; the file is damaged or of another format",
      },
    );
  }
  return header;
}

export interface PcapRecordHeader {
  timestampUs: number;
  capturedLength: number;
  originalLength: number;
}

export function decodePcapRecordHeader(buf: Buffer, pos: number, header: PcapGlobalHeader): PcapRecordHeader {
  const le = header.littleEndian;
  const sec = le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos);
  const frac = le ? buf.readUInt32LE(pos + 4) : buf.readUInt32BE(pos + 4);
  return {
    timestampUs: sec * 1e6 + (header.nanoseconds ? frac / 1000 : frac),
    capturedLength: le ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8),
    originalLength: le ? buf.readUInt32LE(pos + 12) : buf.readUInt32BE(pos + 12),
  };
}

/** Writes a classic pcap (little-endian, microseconds): for tests and for saving what was captured. */
export function encodePcapGlobalHeader(linkType: number, snapLength = 262144, nanoseconds = false): Buffer {
  const b = Buffer.alloc(PCAP_GLOBAL_HEADER_LENGTH);
  b.writeUInt32LE(nanoseconds ? MAGIC_NANO : MAGIC_MICRO, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(snapLength, 16);
  b.writeUInt32LE(linkType, 20);
  return b;
}

export function encodePcapRecord(timestampUs: number, data: Buffer, nanoseconds = false): Buffer {
  const b = Buffer.alloc(PCAP_RECORD_HEADER_LENGTH + data.length);
  const sec = Math.floor(timestampUs / 1e6);
  const fracUs = timestampUs - sec * 1e6;
  b.writeUInt32LE(sec, 0);
  b.writeUInt32LE(Math.round(nanoseconds ? fracUs * 1000 : fracUs), 4);
  b.writeUInt32LE(data.length, 8);
  b.writeUInt32LE(data.length, 12);
  data.copy(b, PCAP_RECORD_HEADER_LENGTH);
  return b;
}
