import { SluiceError } from "../../../core/errors.ts";
import { decimalBinarySize, decodeDecimal } from "./decimal.ts";
import { ColumnType } from "./types.ts";

/**
 * MySQL binary JSON (sql-common/json_binary.h) -> JSON text as MySQL prints it (`{"a": 1, "b": [1, 2]}`).
 *   doc      := type u8 | value
 *   object   := count | size | key-entry*count | value-entry*count | keys | values   (offsets from `count`)
 *   array    := count | size | value-entry*count | values
 *   small: count/size/offsets u16; large: u32. key-entry := offset | length u16.
 *   value-entry := type u8 | offset, or the value inlined (literal, int16, uint16; large also int32/uint32)
 *   string := varlen length (7 bits per byte, LSB first) | utf8mb4 bytes
 *   opaque := field type u8 | varlen length | bytes (DECIMAL, DATE, TIME, DATETIME, TIMESTAMP, others)
 */
const T = {
  SMALL_OBJECT: 0x00,
  LARGE_OBJECT: 0x01,
  SMALL_ARRAY: 0x02,
  LARGE_ARRAY: 0x03,
  LITERAL: 0x04,
  INT16: 0x05,
  UINT16: 0x06,
  INT32: 0x07,
  UINT32: 0x08,
  INT64: 0x09,
  UINT64: 0x0a,
  DOUBLE: 0x0b,
  STRING: 0x0c,
  OPAQUE: 0x0f,
} as const;

class JsonBinaryError extends Error {}

function fail(message: string): never {
  throw new JsonBinaryError(message);
}

interface Frame {
  buf: Buffer;
  start: number;
  end: number;
  /** Nesting depth of this container; MySQL refuses documents deeper than 100. */
  depth: number;
}

const MAX_DEPTH = 100;

function need(f: Frame, pos: number, n: number, what: string): void {
  if (pos < f.start || pos + n > f.end) fail(`${what} at ${pos - f.start} runs past the end of the document`);
}

/** Decodes a whole binary JSON document; an empty value (length 0) is JSON null, as MySQL reads it. */
export function jsonBinaryToText(
  buf: Buffer,
  start: number,
  end: number,
  where: () => Record<string, string | number>,
): string {
  if (end === start) return "null";
  try {
    const f: Frame = { buf, start: start + 1, end, depth: 0 };
    return value(f, buf[start]!, start + 1, end);
  } catch (e) {
    if (e instanceof JsonBinaryError)
      throw new SluiceError("BINLOG_BAD_JSON", `binary JSON: ${e.message}`, {
        context: where(),
        hint: "the JSON value of the row is damaged",
      });
    throw e;
  }
}

function value(f: Frame, type: number, pos: number, end: number): string {
  const b = f.buf;
  switch (type) {
    case T.SMALL_OBJECT:
    case T.LARGE_OBJECT:
      return container(f, pos, end, type === T.LARGE_OBJECT, true);
    case T.SMALL_ARRAY:
    case T.LARGE_ARRAY:
      return container(f, pos, end, type === T.LARGE_ARRAY, false);
    case T.LITERAL:
      need(f, pos, 1, "literal");
      return literal(b[pos]!);
    case T.INT16:
      need(f, pos, 2, "int16");
      return String(b.readInt16LE(pos));
    case T.UINT16:
      need(f, pos, 2, "uint16");
      return String(b.readUInt16LE(pos));
    case T.INT32:
      need(f, pos, 4, "int32");
      return String(b.readInt32LE(pos));
    case T.UINT32:
      need(f, pos, 4, "uint32");
      return String(b.readUInt32LE(pos));
    case T.INT64:
      need(f, pos, 8, "int64");
      return b.readBigInt64LE(pos).toString();
    case T.UINT64:
      need(f, pos, 8, "uint64");
      return b.readBigUInt64LE(pos).toString();
    case T.DOUBLE:
      need(f, pos, 8, "double");
      return formatJsonDouble(b.readDoubleLE(pos));
    case T.STRING: {
      const [len, p] = varlen(f, pos);
      need(f, p, len, "string");
      return quote(b.toString("utf8", p, p + len));
    }
    case T.OPAQUE: {
      need(f, pos, 1, "opaque type");
      const fieldType = b[pos]!;
      const [len, p] = varlen(f, pos + 1);
      need(f, p, len, "opaque value");
      return opaque(b, fieldType, p, len);
    }
    default:
      return fail(`unknown value type 0x${type.toString(16)}`);
  }
}

function literal(v: number): string {
  switch (v) {
    case 0:
      return "null";
    case 1:
      return "true";
    case 2:
      return "false";
    default:
      return fail(`unknown literal 0x${v.toString(16)}`);
  }
}

function varlen(f: Frame, pos: number): [number, number] {
  let len = 0;
  for (let i = 0; i < 5; i++) {
    need(f, pos + i, 1, "length");
    const byte = f.buf[pos + i]!;
    len += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return [len, pos + i + 1];
  }
  return fail("variable-length size longer than 5 bytes");
}

function container(f: Frame, pos: number, end: number, large: boolean, isObject: boolean): string {
  const b = f.buf;
  const w = large ? 4 : 2;
  need(f, pos, 2 * w, "container header");
  const count = large ? b.readUInt32LE(pos) : b.readUInt16LE(pos);
  const size = large ? b.readUInt32LE(pos + w) : b.readUInt16LE(pos + w);
  if (pos + size > end) fail(`container of ${size} bytes runs past the end of its parent`);
  const cend = pos + size;
  const keyEntry = w + 2;
  const valueEntry = 1 + w;
  const headerLen = 2 * w + count * ((isObject ? keyEntry : 0) + valueEntry);
  if (headerLen > size) fail(`container of ${count} elements does not fit its ${size} bytes`);
  if (f.depth >= MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
  const cf: Frame = { buf: b, start: pos, end: cend, depth: f.depth + 1 };
  const parts: string[] = new Array(count);
  const valuesAt = pos + 2 * w + (isObject ? count * keyEntry : 0);
  for (let i = 0; i < count; i++) {
    const ve = valuesAt + i * valueEntry;
    const t = b[ve]!;
    let text: string;
    if (isInlined(t, large)) {
      text =
        t === T.LITERAL
          ? literal(b[ve + 1]!)
          : t === T.INT16
            ? String(b.readInt16LE(ve + 1))
            : t === T.UINT16
              ? String(b.readUInt16LE(ve + 1))
              : t === T.INT32
                ? String(b.readInt32LE(ve + 1))
                : String(b.readUInt32LE(ve + 1));
    } else {
      const off = large ? b.readUInt32LE(ve + 1) : b.readUInt16LE(ve + 1);
      if (off >= size) fail(`value offset ${off} outside its container of ${size} bytes`);
      text = value(cf, t, pos + off, cend);
    }
    if (isObject) {
      const ke = pos + 2 * w + i * keyEntry;
      const koff = large ? b.readUInt32LE(ke) : b.readUInt16LE(ke);
      const klen = b.readUInt16LE(ke + w);
      need(cf, pos + koff, klen, "object key");
      parts[i] = `${quote(b.toString("utf8", pos + koff, pos + koff + klen))}: ${text}`;
    } else {
      parts[i] = text;
    }
  }
  return isObject ? `{${parts.join(", ")}}` : `[${parts.join(", ")}]`;
}

function isInlined(t: number, large: boolean): boolean {
  switch (t) {
    case T.LITERAL:
    case T.INT16:
    case T.UINT16:
      return true;
    case T.INT32:
    case T.UINT32:
      return large;
    default:
      return false;
  }
}

/** JSON string literal as MySQL escapes it (control characters as \u00XX, the rest verbatim). */
export function quote(s: string): string {
  // JSON.stringify escapes exactly `"`, `\` and control characters, like MySQL; it also escapes lone
  // surrogates, which utf8mb4 text cannot contain.
  return JSON.stringify(s);
}

/**
 * A double as MySQL prints it inside JSON (my_gcvt): the shortest round-trip digits, in fixed
 * notation when the decimal point position is within [-14, 15] (`0.0000001`, `123.0`), else as `1e15`,
 * `1e-16`; integral values keep a `.0`.
 */
export function formatJsonDouble(d: number): string {
  if (!Number.isFinite(d)) fail(`non-finite double ${d}`);
  if (d === 0) return Object.is(d, -0) ? "-0.0" : "0.0";
  const [mant = "0", expText = "0"] = Math.abs(d).toExponential().split("e");
  const digits = mant.replace(".", "");
  const decpt = Number(expText) + 1;
  const sign = d < 0 ? "-" : "";
  if (decpt >= -14 && (decpt <= 15 || digits.length > decpt)) {
    let text: string;
    if (decpt <= 0) text = `0.${"0".repeat(-decpt)}${digits}`;
    else if (decpt >= digits.length) text = `${digits}${"0".repeat(decpt - digits.length)}.0`;
    else text = `${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
    return sign + text;
  }
  const e = decpt - 1;
  return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${e}`;
}

function opaque(b: Buffer, fieldType: number, p: number, len: number): string {
  switch (fieldType) {
    case ColumnType.NEWDECIMAL: {
      if (len < 2) fail("opaque decimal without precision and scale");
      const precision = b[p]!;
      const scale = b[p + 1]!;
      if (
        precision < 1 ||
        precision > 65 ||
        scale > precision ||
        len < 2 + decimalBinarySize(precision, scale)
      )
        fail(`opaque DECIMAL(${precision},${scale}) of ${len} bytes`);
      return decodeDecimal(b, p + 2, precision, scale);
    }
    case ColumnType.DATE:
    case ColumnType.DATETIME:
    case ColumnType.TIMESTAMP:
    case ColumnType.TIME: {
      if (len < 8) fail("opaque temporal shorter than 8 bytes");
      const packed = b.readBigInt64LE(p);
      return `"${fieldType === ColumnType.TIME ? packedTime(packed) : packedDatetime(packed, fieldType === ColumnType.DATE)}"`;
    }
    default:
      return `"base64:type${fieldType}:${b.toString("base64", p, p + len)}"`;
  }
}

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function packedDatetime(packed: bigint, dateOnly: boolean): string {
  const neg = packed < 0n;
  const a = neg ? -packed : packed;
  const usec = Number(a & 0xffffffn);
  const ymdhms = Number(a >> 24n);
  const ymd = Math.floor(ymdhms / 0x20000);
  const hms = ymdhms % 0x20000;
  const ym = ymd >> 5;
  const date = `${neg ? "-" : ""}${String(Math.floor(ym / 13)).padStart(4, "0")}-${p2(ym % 13)}-${p2(ymd % 32)}`;
  if (dateOnly) return date;
  return `${date} ${p2(hms >> 12)}:${p2((hms >> 6) % 64)}:${p2(hms % 64)}.${String(usec).padStart(6, "0")}`;
}

function packedTime(packed: bigint): string {
  const neg = packed < 0n;
  const a = neg ? -packed : packed;
  const usec = Number(a & 0xffffffn);
  const hms = Number(a >> 24n);
  return `${neg ? "-" : ""}${p2((hms >> 12) % 1024)}:${p2((hms >> 6) % 64)}:${p2(hms % 64)}.${String(usec).padStart(6, "0")}`;
}
