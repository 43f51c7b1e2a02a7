import { ByteReader } from "../binlog/reader.ts";
import { ColumnType as FieldType } from "../binlog/rows/types.ts";

/**
 * Values of the binary protocol (COM_STMT_EXECUTE parameters, query attributes, binary result rows).
 *
 *   TINY 1 byte | SHORT, YEAR 2 | LONG, INT24 4 | LONGLONG 8 | FLOAT 4 (IEEE) | DOUBLE 8 (IEEE)
 *   DATE, DATETIME, TIMESTAMP: u8 length (0, 4, 7, 11) | u16 year | u8 month | u8 day
 *                              | u8 hour | u8 minute | u8 second | u32 microsecond
 *   TIME: u8 length (0, 8, 12) | u8 negative | u32 days | u8 hour | u8 minute | u8 second | u32 microsecond
 *   everything else (strings, blobs, DECIMAL, JSON, ENUM, SET, BIT, GEOMETRY): lenenc string
 * The parameter type is 2 bytes: the type code, and a flag byte whose 0x80 bit means unsigned.
 */

/** A parameter's declared type: the type code and whether it is unsigned. */
export interface ParamType {
  type: number;
  unsigned: boolean;
}

/**
 * A decoded value as it goes out in events: numbers as numbers (64-bit beyond 2^53 as decimal
 * strings), text as strings, bytes that are not valid UTF-8 as `0x` + hex, temporal values as text.
 */
export type ParamValue = number | string | null;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Text when the bytes are valid UTF-8, else `0x` and their hex. */
export function textOrHex(b: Buffer): string {
  const s = b.toString("utf8");
  // Round-trips only when the bytes were valid UTF-8.
  return Buffer.byteLength(s) === b.length && !s.includes("\ufffd") ? s : `0x${b.toString("hex")}`;
}

function dateTime(r: ByteReader, withDate: boolean): string {
  const n = r.u8("temporal length");
  if (n === 0) return withDate ? "0000-00-00 00:00:00" : "00:00:00";
  const body = new ByteReader(r.bytes(n, "temporal value"));
  if (!withDate) {
    const negative = body.u8() === 1;
    const days = body.u32();
    const h = body.u8();
    const m = body.u8();
    const s = body.u8();
    const us = body.remaining >= 4 ? body.u32() : 0;
    return `${negative ? "-" : ""}${pad(days * 24 + h)}:${pad(m)}:${pad(s)}${us ? `.${pad(us, 6)}` : ""}`;
  }
  const y = body.u16();
  const mo = body.u8();
  const d = body.u8();
  const date = `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
  if (n === 4) return date;
  const h = body.u8();
  const mi = body.u8();
  const s = body.u8();
  const us = body.remaining >= 4 ? body.u32() : 0;
  return `${date} ${pad(h)}:${pad(mi)}:${pad(s)}${us ? `.${pad(us, 6)}` : ""}`;
}

function bigToValue(v: bigint): ParamValue {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
}

/** Reads one binary-protocol value of type `t` at the reader's position. */
export function readBinaryValue(r: ByteReader, t: ParamType): ParamValue {
  switch (t.type) {
    case FieldType.NULL:
      return null;
    case FieldType.TINY:
      return t.unsigned ? r.u8("tiny") : r.i8("tiny");
    case FieldType.SHORT:
    case FieldType.YEAR:
      return t.unsigned ? r.u16("short") : r.i16("short");
    case FieldType.LONG:
    case FieldType.INT24:
      return t.unsigned ? r.u32("long") : r.i32("long");
    case FieldType.LONGLONG:
      return bigToValue(t.unsigned ? r.u64("longlong") : r.i64("longlong"));
    case FieldType.FLOAT:
      return r.floatLE("float");
    case FieldType.DOUBLE:
      return r.doubleLE("double");
    case FieldType.DATE:
    case FieldType.DATETIME:
    case FieldType.TIMESTAMP:
    case FieldType.NEWDATE:
      return dateTime(r, true);
    case FieldType.TIME:
      return dateTime(r, false);
    default:
      return textOrHex(r.lenencBytes("string value"));
  }
}

export function readParamTypes(r: ByteReader, count: number): ParamType[] {
  const types: ParamType[] = [];
  for (let i = 0; i < count; i++) {
    const type = r.u8("parameter type");
    const flags = r.u8("parameter flags");
    types.push({ type, unsigned: (flags & 0x80) !== 0 });
  }
  return types;
}

/**
 * The values block: one value per parameter, skipping those the NULL bitmap marks (NULL) and those
 * sent earlier with COM_STMT_SEND_LONG_DATA (`longData`: parameter index -> accumulated value).
 */
export function readParamValues(
  r: ByteReader,
  types: ParamType[],
  nullBitmap: Buffer,
  longData?: ReadonlyMap<number, ParamValue>,
): ParamValue[] {
  const values: ParamValue[] = [];
  for (let i = 0; i < types.length; i++) {
    if (nullBitmap[i >> 3]! & (1 << (i & 7))) values.push(null);
    else if (longData?.has(i)) values.push(longData.get(i)!);
    else values.push(readBinaryValue(r, types[i]!));
  }
  return values;
}

/** Text form for people: SQL-ish literals. */
export function formatParamValue(v: ParamValue): string {
  if (v === null) return "NULL";
  if (typeof v === "number") return String(v);
  if (v.startsWith("0x") && /^0x[0-9a-f]*$/.test(v)) return v;
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
