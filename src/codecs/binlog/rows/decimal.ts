/**
 * MySQL's binary DECIMAL (NEWDECIMAL) format, decoded exactly to its decimal string.
 * Digits are packed in groups of 9 (4 bytes, big-endian); a leading/trailing partial group of n digits
 * takes DIG2BYTES[n] bytes. The integer part's partial group comes first, the fraction's last. The sign
 * is the inverted top bit of the first byte; negative numbers have every byte complemented.
 */
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4] as const;

/** Bytes a DECIMAL(precision, scale) takes in a row. */
export function decimalBinarySize(precision: number, scale: number): number {
  const intg = precision - scale;
  return Math.floor(intg / 9) * 4 + DIG2BYTES[intg % 9]! + Math.floor(scale / 9) * 4 + DIG2BYTES[scale % 9]!;
}

function readGroup(buf: Buffer, pos: number, n: number, mask: number, first: boolean): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    let b = buf[pos + i]!;
    if (first && i === 0) b ^= 0x80;
    v = v * 256 + ((b ^ mask) & 0xff);
  }
  return v;
}

/** Decodes `decimalBinarySize(precision, scale)` bytes at `pos` (caller checks the bounds). */
export function decodeDecimal(buf: Buffer, pos: number, precision: number, scale: number): string {
  const intg = precision - scale;
  const intg0 = Math.floor(intg / 9);
  const intg0x = intg % 9;
  const frac0 = Math.floor(scale / 9);
  const frac0x = scale % 9;
  const negative = (buf[pos]! & 0x80) === 0;
  const mask = negative ? 0xff : 0;
  let p = pos;
  let first = true;
  let intPart = "";
  if (intg0x > 0) {
    const n = DIG2BYTES[intg0x]!;
    const v = readGroup(buf, p, n, mask, first);
    first = false;
    p += n;
    if (v !== 0) intPart = String(v);
  }
  for (let i = 0; i < intg0; i++) {
    const v = readGroup(buf, p, 4, mask, first);
    first = false;
    p += 4;
    intPart = intPart === "" ? (v === 0 ? "" : String(v)) : intPart + String(v).padStart(9, "0");
  }
  if (intPart === "") intPart = "0";
  let frac = "";
  for (let i = 0; i < frac0; i++) {
    const v = readGroup(buf, p, 4, mask, first);
    first = false;
    p += 4;
    frac += String(v).padStart(9, "0");
  }
  if (frac0x > 0) {
    const n = DIG2BYTES[frac0x]!;
    const v = readGroup(buf, p, n, mask, first);
    frac += String(v).padStart(frac0x, "0");
  }
  const text = scale > 0 ? `${intPart}.${frac}` : intPart;
  if (negative && /[1-9]/.test(text)) return `-${text}`;
  return text;
}
