// Test-only encoders: the inverse of the row decoders, for round-trip properties.
import { decimalBinarySize } from "../../../../src/codecs/binlog/rows/decimal.ts";

/** Test-only: encodes a decimal string (already at `scale` digits or fewer) to binary. */
export function encodeDecimal(text: string, precision: number, scale: number): Buffer {
  const negative = text.startsWith("-");
  const body = negative ? text.slice(1) : text;
  const [ip = "0", fp = ""] = body.split(".");
  const intg = precision - scale;
  const intDigits = ip.replace(/^0+/, "").padStart(intg, "0");
  const fracDigits = fp.padEnd(scale, "0");
  const out = Buffer.alloc(decimalBinarySize(precision, scale));
  let p = 0;
  const put = (digits: string, n: number) => {
    let v = digits === "" ? 0 : Number(digits);
    for (let i = n - 1; i >= 0; i--) {
      out[p + i] = v & 0xff;
      v = Math.floor(v / 256);
    }
    p += n;
  };
  const intg0x = intg % 9;
  let k = 0;
  if (intg0x > 0) {
    put(intDigits.slice(0, intg0x), DIG2BYTES[intg0x]!);
    k = intg0x;
  }
  for (; k < intg; k += 9) put(intDigits.slice(k, k + 9), 4);
  const frac0 = Math.floor(scale / 9);
  for (let i = 0; i < frac0; i++) put(fracDigits.slice(i * 9, i * 9 + 9), 4);
  const frac0x = scale % 9;
  if (frac0x > 0) put(fracDigits.slice(frac0 * 9), DIG2BYTES[frac0x]!);
  if (negative) for (let i = 0; i < out.length; i++) out[i] = ~out[i]! & 0xff;
  out[0] = out[0]! ^ 0x80;
  return out;
}

const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;

function fracBytes(usec: number, fsp: number): Buffer {
  const n = (fsp + 1) >> 1;
  const b = Buffer.alloc(n);
  if (n === 1) b.writeIntBE(Math.floor(usec / 10000), 0, 1);
  else if (n === 2) b.writeIntBE(Math.floor(usec / 100), 0, 2);
  else if (n === 3) b.writeIntBE(usec, 0, 3);
  return b;
}

/** DATETIME2: usec must already be truncated to fsp digits. */
export function encodeDatetime2(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  usec: number,
  fsp: number,
): Buffer {
  const ym = y * 13 + mo;
  const ymd = ym * 32 + d;
  const hms = (h << 12) | (mi << 6) | s;
  const intpart = ymd * 0x20000 + hms + 0x8000000000;
  const b = Buffer.alloc(5);
  b.writeUIntBE(intpart, 0, 5);
  return Buffer.concat([b, fracBytes(usec, fsp)]);
}

/** TIME2 of a signed duration (negative when neg). */
export function encodeTime2(
  neg: boolean,
  h: number,
  mi: number,
  s: number,
  usec: number,
  fsp: number,
): Buffer {
  const hms = (h << 12) | (mi << 6) | s;
  const packedAbs = hms * 0x1000000 + usec;
  const packed = neg ? -packedAbs : packedAbs;
  const n = (fsp + 1) >> 1;
  const b = Buffer.alloc(3 + n);
  if (n === 3) {
    b.writeUIntBE(packed + 0x800000000000, 0, 6);
    return b;
  }
  // As my_time_packed_to_binary: the int part is an arithmetic shift (floor), the fraction a C
  // remainder (sign of the value), stored as a signed byte/short.
  const intpart = Math.floor(packed / 0x1000000);
  const rem = packed - Math.trunc(packed / 0x1000000) * 0x1000000;
  b.writeUIntBE(intpart + 0x800000, 0, 3);
  if (n === 0) return b.subarray(0, 3);
  const stored = rem / (n === 1 ? 10000 : 100);
  if (!Number.isInteger(stored)) throw new Error("usec not representable at this fsp");
  if (n === 1) b.writeUInt8(stored & 0xff, 3);
  else b.writeUInt16BE(stored & 0xffff, 3);
  return b;
}
