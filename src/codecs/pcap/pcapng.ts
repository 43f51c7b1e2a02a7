import { SluiceError } from "../../core/errors.ts";
import type { InterfaceStatistics } from "./record.ts";

/**
 * pcapng blocks (draft-ietf-opsawg-pcapng). Every block:
 *   u32 block_type | u32 block_total_length | body | u32 block_total_length (again)
 * in the byte order its section's header declared.
 *
 *   SHB 0x0A0D0D0A: u32 byte_order_magic (1A2B3C4D) | u16 major | u16 minor | i64 section_length | options
 *   IDB 1: u16 linktype | u16 reserved | u32 snaplen | options (if_tsresol = 9: 1 byte)
 *   EPB 6: u32 interface_id | u32 ts_high | u32 ts_low | u32 captured_len | u32 original_len | data | options
 *   SPB 3: u32 original_len | data (captured = min(original_len, snaplen of interface 0, what fits))
 *   OPB 2 (obsolete): u16 interface_id | u16 drops | u32 ts_high | u32 ts_low | u32 captured_len | u32 original_len | data
 *   ISB 5: u32 interface_id | u32 ts_high | u32 ts_low | options (isb_ifrecv 4, isb_ifdrop 5, isb_osdrop 7: u64)
 * Options: u16 code | u16 length | value padded to 4 bytes; code 0 ends the list.
 */
export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 1;
export const PCAPNG_OPB = 2;
export const PCAPNG_SPB = 3;
export const PCAPNG_ISB = 5;
export const PCAPNG_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export interface PcapngInterface {
  linkType: number;
  snapLength: number;
  /** Timestamp units per second (10^6 unless if_tsresol says otherwise). */
  unitsPerSecond: bigint;
}

export function isPcapngMagic(buf: Buffer, pos = 0): boolean {
  return buf.length >= pos + 4 && buf.readUInt32LE(pos) === PCAPNG_SHB;
}

/** Byte order of a section, from the SHB's byte-order magic at `pos + 8`. */
export function sectionLittleEndian(buf: Buffer, pos: number, file: string | undefined): boolean {
  if (buf.readUInt32LE(pos + 8) === BYTE_ORDER_MAGIC) return true;
  if (buf.readUInt32BE(pos + 8) === BYTE_ORDER_MAGIC) return false;
  throw new SluiceError("PCAPNG_BAD_BYTE_ORDER", "pcapng section header has no valid byte-order magic", {
    context: { file, offset: pos + 8, value: buf.readUInt32LE(pos + 8).toString(16) },
    hint: "the file is damaged",
  });
}

/** Reads options from `pos` to `end`, calling `each(code, value)` for every option before opt_endofopt. */
function forEachOption(
  buf: Buffer,
  pos: number,
  end: number,
  le: boolean,
  each: (code: number, value: Buffer) => void,
): void {
  while (pos + 4 <= end) {
    const code = le ? buf.readUInt16LE(pos) : buf.readUInt16BE(pos);
    const length = le ? buf.readUInt16LE(pos + 2) : buf.readUInt16BE(pos + 2);
    if (code === 0) return;
    const valueEnd = pos + 4 + length;
    if (valueEnd > end) return; // a damaged option list is not worth failing the file for
    each(code, buf.subarray(pos + 4, valueEnd));
    pos = valueEnd + ((4 - (length % 4)) % 4);
  }
}

/** Decodes an IDB whose body spans buf[pos+8 .. end) (end excludes the trailing length). */
export function decodeInterfaceBlock(buf: Buffer, pos: number, end: number, le: boolean): PcapngInterface {
  const linkType = le ? buf.readUInt16LE(pos + 8) : buf.readUInt16BE(pos + 8);
  const snapLength = le ? buf.readUInt32LE(pos + 12) : buf.readUInt32BE(pos + 12);
  let unitsPerSecond = 1_000_000n;
  forEachOption(buf, pos + 16, end, le, (code, value) => {
    if (code === 9 && value.length >= 1) {
      const r = value[0]!;
      unitsPerSecond = r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
    }
  });
  return { linkType, snapLength, unitsPerSecond };
}

/** A 64-bit timestamp in interface units, as microseconds since the epoch. */
export function timestampMicros(high: number, low: number, unitsPerSecond: bigint): number {
  if (unitsPerSecond === 1_000_000n) return high * 4294967296 + low;
  const units = (BigInt(high) << 32n) | BigInt(low);
  const seconds = units / unitsPerSecond;
  const fraction = units % unitsPerSecond;
  return Number(seconds) * 1e6 + (Number(fraction) * 1e6) / Number(unitsPerSecond);
}

export function decodeStatisticsBlock(
  buf: Buffer,
  pos: number,
  end: number,
  le: boolean,
): InterfaceStatistics {
  const stats: InterfaceStatistics = {
    interfaceId: le ? buf.readUInt32LE(pos + 8) : buf.readUInt32BE(pos + 8),
    received: undefined,
    droppedByInterface: undefined,
    droppedByOs: undefined,
  };
  forEachOption(buf, pos + 20, end, le, (code, value) => {
    if (value.length !== 8) return;
    const v = le ? value.readBigUInt64LE(0) : value.readBigUInt64BE(0);
    if (code === 4) stats.received = v;
    else if (code === 5) stats.droppedByInterface = v;
    else if (code === 7) stats.droppedByOs = v;
  });
  return stats;
}

// ---- encoders (little-endian), for tests and fixtures ----

function block(type: number, body: Buffer): Buffer {
  const padded = Buffer.alloc(body.length + ((4 - (body.length % 4)) % 4));
  body.copy(padded);
  const total = 12 + padded.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  padded.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

export function encodeSectionHeader(): Buffer {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4);
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8);
  return block(PCAPNG_SHB, body);
}

/** `tsresol`: the if_tsresol byte (6 = microseconds, 9 = nanoseconds); undefined = no option. */
export function encodeInterfaceBlock(linkType: number, tsresol?: number, snapLength = 262144): Buffer {
  const options =
    tsresol === undefined ? Buffer.alloc(0) : Buffer.from([9, 0, 1, 0, tsresol, 0, 0, 0, 0, 0, 0, 0]);
  const body = Buffer.alloc(8 + options.length);
  body.writeUInt16LE(linkType, 0);
  body.writeUInt32LE(snapLength, 4);
  options.copy(body, 8);
  return block(PCAPNG_IDB, body);
}

export function encodeEnhancedPacket(interfaceId: number, units: bigint, data: Buffer): Buffer {
  const body = Buffer.alloc(20 + data.length);
  body.writeUInt32LE(interfaceId, 0);
  body.writeUInt32LE(Number(units >> 32n), 4);
  body.writeUInt32LE(Number(units & 0xffffffffn), 8);
  body.writeUInt32LE(data.length, 12);
  body.writeUInt32LE(data.length, 16);
  data.copy(body, 20);
  return block(PCAPNG_EPB, body);
}

export function encodeSimplePacket(data: Buffer): Buffer {
  const body = Buffer.alloc(4 + data.length);
  body.writeUInt32LE(data.length, 0);
  data.copy(body, 4);
  return block(PCAPNG_SPB, body);
}
