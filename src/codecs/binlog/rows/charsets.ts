/**
 * Collation id -> character set, as MariaDB 10.11 and MySQL 8 number them, and string decoding per
 * charset. Only the charsets Sluice decodes to text are listed by name; every other id falls back to
 * "unknown" and its bytes are kept as binary (see docs/binlog-values.md).
 */
import { isUtf8 as isUtf8Impl } from "node:buffer";

const mariadbCollations: Record<string, readonly number[]> = {
  ascii: [11, 65, 1035, 1089],
  binary: [63],
  latin1: [5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071],
  ucs2: [35, 90, 159, 640, 641, 642, 1059, 1114, 1152, 1174, ...range(128, 151)],
  utf16: [54, 55, 672, 673, 674, 1078, 1079, 1125, 1147, ...range(101, 124)],
  utf16le: [56, 62, 1080, 1086],
  utf32: [60, 61, 736, 737, 738, 1084, 1085, 1184, 1206, ...range(160, 183)],
  utf8mb3: [33, 83, 76, 223, 576, 577, 578, 1057, 1107, 1216, 1238, ...range(192, 215)],
  utf8mb4: [45, 46, 608, 609, 610, 1069, 1070, 1248, 1270, ...range(224, 247)],
};

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

const byId = new Map<number, string>();
for (const [name, ids] of Object.entries(mariadbCollations)) for (const id of ids) byId.set(id, name);
// MySQL 8.0 utf8mb4_0900_* and later utf8mb4 collations; MySQL has no collations 256-323 of other sets
// except gb18030 (248-250) which Sluice does not decode as text.
for (let id = 255; id <= 323; id++) if (!byId.has(id)) byId.set(id, "utf8mb4");
// MariaDB 10.10+ uca1400 collations: id = 2048 + (charset << 8 | variant); charset 0 utf8mb3, 1 utf8mb4,
// 2 ucs2, 3 utf16, 4 utf32 (see MariaDB ctype-uca1400.h).
const uca1400Sets = ["utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"];

/** Charset name for a collation id; "unknown" when the id is not one Sluice knows. */
export function charsetOfCollation(id: number): string {
  const n = byId.get(id);
  if (n !== undefined) return n;
  if (id >= 2048 && id < 2048 + 5 * 256) return uca1400Sets[(id - 2048) >> 8] ?? "unknown";
  return "unknown";
}

// Buffer#toString re-checks its arguments and dispatches on the encoding name for every call; the
// row decoder calls it once per string cell with bounds it has already checked.
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice(this: Buffer, s: number, e: number): string })
  .utf8Slice;

/** UTF-8 bytes [start, end) of `buf` as a string (bounds already checked by the caller). */
export function utf8Text(buf: Buffer, start: number, end: number): string {
  return utf8Slice.call(buf, start, end);
}

/** Charsets whose bytes Sluice decodes into a JS string. */
export function isTextCharset(charset: string): boolean {
  switch (charset) {
    case "utf8mb4":
    case "utf8mb3":
    case "utf8":
    case "latin1":
    case "ascii":
    case "ucs2":
    case "utf16":
    case "utf16le":
    case "utf32":
      return true;
    default:
      return false;
  }
}

// MySQL's latin1 is Windows cp1252 with the five undefined positions mapped straight through.
const cp1252High = [
  0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,
  0x017d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0x9d, 0x017e, 0x0178,
];

function decodeLatin1(buf: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString("latin1", start, end);
  let s = "";
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    s += String.fromCharCode(b >= 0x80 && b < 0xa0 ? cp1252High[b - 0x80]! : b);
  }
  return s;
}

function decodeUtf16BE(buf: Buffer, start: number, end: number): string {
  // A damaged value may have an odd length: the stray byte becomes U+FFFD rather than an exception.
  const even = end - ((end - start) & 1);
  const swapped = Buffer.from(buf.subarray(start, even));
  swapped.swap16();
  return swapped.toString("utf16le") + (even < end ? "\ufffd" : "");
}

function decodeUtf32(buf: Buffer, start: number, end: number): string {
  let s = "";
  for (let i = start; i + 4 <= end; i += 4) {
    const cp = buf.readUInt32BE(i);
    s += cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
  }
  return s;
}

/** Decodes bytes of a text charset (isTextCharset) into a JS string. */
export function decodeText(buf: Buffer, start: number, end: number, charset: string): string {
  switch (charset) {
    case "latin1":
      return decodeLatin1(buf, start, end);
    case "ascii":
      return buf.toString("latin1", start, end);
    case "ucs2":
    case "utf16":
      return decodeUtf16BE(buf, start, end);
    case "utf16le":
      return buf.toString("utf16le", start, end);
    case "utf32":
      return decodeUtf32(buf, start, end);
    default:
      return utf8Text(buf, start, end);
  }
}

/** True when the bytes are well-formed UTF-8 (used only when a column's charset is unknown). */
export function isValidUtf8(buf: Buffer, start: number, end: number): boolean {
  return isUtf8Impl(buf.subarray(start, end));
}
