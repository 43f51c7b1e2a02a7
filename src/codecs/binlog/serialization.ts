import { SluiceError } from "../../core/errors.ts";
import type { ByteReader } from "./reader.ts";

/**
 * MySQL's serialization library (8.3+: GTID_TAGGED_LOG_EVENT, tagged GTID sets) stores unsigned
 * integers in 1-9 bytes, little-endian: the number of trailing one-bits of the first byte + 1 is the
 * byte count, and the value is the little-endian number shifted right by that count; a first byte of
 * 0xff is followed by the 8-byte value. Signed values are zig-zag encoded on top (LSB = sign).
 */
export function readVarlenUint(r: ByteReader, what = "varlen uint"): bigint {
  const first = r.u8(what);
  if (first === 0xff) return r.u64(what);
  let n = 1;
  while (first & (1 << (n - 1))) n++;
  let v = BigInt(first);
  for (let i = 1; i < n; i++) v |= BigInt(r.u8(what)) << BigInt(8 * i);
  return v >> BigInt(n);
}

export function readVarlenInt(r: ByteReader, what = "varlen int"): bigint {
  const u = readVarlenUint(r, what);
  return u & 1n ? -(u >> 1n) - 1n : u >> 1n;
}

/** A varlen uint that must fit a safe JS number (lengths, counts, small fields). */
export function readVarlenNumber(r: ByteReader, what = "varlen uint"): number {
  const at = r.pos;
  const v = readVarlenUint(r, what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new SluiceError("BINLOG_BAD_VALUE", `${what}: ${v} is too large`, {
      context: { what, file: r.file, offset: r.base + at },
    });
  return Number(v);
}
