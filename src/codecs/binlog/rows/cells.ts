import { SluiceError } from "../../../core/errors.ts";
import { decodeText, isTextCharset, isValidUtf8, utf8Text } from "./charsets.ts";
import { decimalBinarySize, decodeDecimal } from "./decimal.ts";
import { jsonBinaryToText } from "./json-binary.ts";
import { formatInet4, formatInet6, formatUuid } from "./mariadb-types.ts";
import { stringFieldLength } from "./table-map.ts";
import {
  datetime2Size,
  decodeDate,
  decodeDatetime2,
  decodeDatetimeOld,
  decodeMariadbDatetimeHires,
  decodeMariadbTimeHires,
  decodeMariadbTimestampHires,
  decodeTime2,
  decodeTimeOld,
  decodeTimestamp2,
  decodeTimestampOld,
  mariadbHiresSize,
  time2Size,
  timestamp2Size,
} from "./temporal.ts";
import { type CellValue, type ColumnDef, ColumnType, columnTypeName, JsonText } from "./types.ts";

/** Read position shared by the cell decoders of one rows event (the decoder is single-threaded). */
export interface Cursor {
  pos: number;
  /** One past the last byte of the rows data. */
  end: number;
  /** For error messages: file and the absolute offset of buf[0]. */
  file: string;
  base: number;
}

function truncated(c: Cursor, col: ColumnDef, n: number): SluiceError {
  return new SluiceError(
    "BINLOG_TRUNCATED",
    `column ${col.index + 1}${col.name ? ` (${col.name})` : ""} of type ${columnTypeName[col.type] ?? col.type}: needs ${n} bytes, only ${c.end - c.pos} left in the event`,
    {
      context: { file: c.file, offset: c.base + c.pos, column: col.index + 1 },
      hint: "the rows event is shorter than its table map says: the file is damaged or the table map does not belong to this event",
    },
  );
}

/** Checks that `n` bytes remain, advances past them and returns where they start. */
function take(c: Cursor, col: ColumnDef, n: number): number {
  const p = c.pos;
  if (p + n > c.end) throw truncated(c, col, n);
  c.pos = p + n;
  return p;
}

function lengthPrefix(buf: Buffer, c: Cursor, col: ColumnDef, bytes: number): number {
  const p = take(c, col, bytes);
  switch (bytes) {
    case 1:
      return buf[p]!;
    case 2:
      return buf[p]! | (buf[p + 1]! << 8);
    case 3:
      return buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16);
    case 4:
      return buf.readUInt32LE(p);
    default:
      throw new SluiceError("BINLOG_BAD_VALUE", `column ${col.index + 1}: length prefix of ${bytes} bytes`, {
        context: { file: c.file, offset: c.base + p, column: col.index + 1 },
        hint: "the table map's metadata for this column is damaged",
      });
  }
}

/** Unsigned 64-bit from two halves: a number when exact, else bigint. */
function u64(buf: Buffer, p: number): number | bigint {
  const lo = buf.readUInt32LE(p);
  const hi = buf.readUInt32LE(p + 4);
  if (hi < 0x200000) return hi * 0x100000000 + lo;
  return buf.readBigUInt64LE(p);
}

function i64(buf: Buffer, p: number): number | bigint {
  const lo = buf.readUInt32LE(p);
  const hi = buf.readInt32LE(p + 4);
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * 0x100000000 + lo;
    if (Number.isSafeInteger(v)) return v;
  }
  return buf.readBigInt64LE(p);
}

/** Big-endian unsigned integer of 0..8 bytes (BIT). */
function uintBE(buf: Buffer, p: number, n: number): number | bigint {
  if (n <= 6) return n === 0 ? 0 : buf.readUIntBE(p, n);
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[p + i]!);
  return v <= 9007199254740991n ? Number(v) : v;
}

/** Little-endian unsigned integer of 1..8 bytes (ENUM index, SET bitmask). */
function uintLE(buf: Buffer, p: number, n: number): number | bigint {
  if (n <= 6) return buf.readUIntLE(p, n);
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]!);
  return v <= 9007199254740991n ? Number(v) : v;
}

/** Text or binary per the column's charset; see docs/binlog-values.md for the unknown-charset rule. */
function stringCell(buf: Buffer, start: number, end: number, col: ColumnDef): string | Buffer {
  const cs = col.charset;
  if (cs === "binary") return buf.subarray(start, end);
  if (cs === "utf8mb4" || cs === "utf8mb3") return utf8Text(buf, start, end);
  if (cs !== undefined && isTextCharset(cs)) return decodeText(buf, start, end, cs);
  if (cs === undefined && isValidUtf8(buf, start, end)) return utf8Text(buf, start, end);
  return buf.subarray(start, end);
}

/**
 * CHAR/BINARY: the server strips the pad characters when it packs the row (spaces, or 0x00 for
 * binary strings and MariaDB's fixed binary types); binary values are padded back to the column's
 * length, as SELECT returns them. Text CHARs are returned without trailing spaces by SELECT too.
 */
function fixedStringCell(buf: Buffer, start: number, end: number, col: ColumnDef, length: number): CellValue {
  if (end - start < length && (col.charset === "binary" || isFixedBinaryType(col.dataType))) {
    const padded = Buffer.alloc(length);
    buf.copy(padded, 0, start, end);
    return fixedStringCell(padded, 0, length, col, length);
  }
  switch (col.dataType) {
    case "uuid":
      if (end - start === 16) return formatUuid(buf, start);
      break;
    case "inet6":
      if (end - start === 16) return formatInet6(buf, start);
      break;
    case "inet4":
      if (end - start === 4) return formatInet4(buf, start);
      break;
  }
  return stringCell(buf, start, end, col);
}

function isFixedBinaryType(dataType: string | undefined): boolean {
  return dataType === "uuid" || dataType === "inet6" || dataType === "inet4" || dataType === "binary";
}

function enumCell(v: number, col: ColumnDef): CellValue {
  const labels = col.labels;
  if (labels === undefined) return v;
  // Index 0 is the server's "" for an invalid value.
  return v === 0 ? "" : (labels[v - 1] ?? v);
}

function setCell(v: number | bigint, col: ColumnDef): CellValue {
  const labels = col.labels;
  if (labels === undefined) return v;
  const big = BigInt(v);
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) if ((big >> BigInt(i)) & 1n) out.push(labels[i]!);
  return out.join(",");
}

/** Decodes the cell of `col` at `c.pos` (the column is present and not NULL); advances `c.pos`. */
export function decodeCell(buf: Buffer, c: Cursor, col: ColumnDef): CellValue {
  switch (col.realType) {
    case ColumnType.TINY: {
      const p = take(c, col, 1);
      return col.unsigned ? buf[p]! : buf.readInt8(p);
    }
    case ColumnType.SHORT: {
      const p = take(c, col, 2);
      return col.unsigned ? buf.readUInt16LE(p) : buf.readInt16LE(p);
    }
    case ColumnType.INT24: {
      const p = take(c, col, 3);
      return col.unsigned ? buf.readUIntLE(p, 3) : buf.readIntLE(p, 3);
    }
    case ColumnType.LONG: {
      const p = take(c, col, 4);
      return col.unsigned ? buf.readUInt32LE(p) : buf.readInt32LE(p);
    }
    case ColumnType.LONGLONG: {
      const p = take(c, col, 8);
      return col.unsigned ? u64(buf, p) : i64(buf, p);
    }
    case ColumnType.FLOAT:
      return buf.readFloatLE(take(c, col, 4));
    case ColumnType.DOUBLE:
      return buf.readDoubleLE(take(c, col, 8));
    case ColumnType.NEWDECIMAL: {
      const precision = col.meta >> 8;
      const scale = col.meta & 0xff;
      return decodeDecimal(buf, take(c, col, decimalBinarySize(precision, scale)), precision, scale);
    }
    case ColumnType.YEAR: {
      const y = buf[take(c, col, 1)]!;
      return y === 0 ? 0 : 1900 + y;
    }
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
      return decodeDate(buf, take(c, col, 3));
    case ColumnType.TIME:
      if (col.decimals)
        return decodeMariadbTimeHires(
          buf,
          take(c, col, mariadbHiresSize("time", col.decimals)),
          col.decimals,
        );
      return decodeTimeOld(buf, take(c, col, 3));
    case ColumnType.TIME2:
      return decodeTime2(buf, take(c, col, time2Size(col.meta)), col.meta);
    case ColumnType.DATETIME:
      if (col.decimals)
        return decodeMariadbDatetimeHires(
          buf,
          take(c, col, mariadbHiresSize("datetime", col.decimals)),
          col.decimals,
        );
      return decodeDatetimeOld(buf, take(c, col, 8));
    case ColumnType.DATETIME2:
      return decodeDatetime2(buf, take(c, col, datetime2Size(col.meta)), col.meta);
    case ColumnType.TIMESTAMP:
      if (col.decimals)
        return decodeMariadbTimestampHires(
          buf,
          take(c, col, mariadbHiresSize("timestamp", col.decimals)),
          col.decimals,
        );
      return decodeTimestampOld(buf, take(c, col, 4));
    case ColumnType.TIMESTAMP2:
      return decodeTimestamp2(buf, take(c, col, timestamp2Size(col.meta)), col.meta);
    case ColumnType.BIT: {
      const n = (col.meta & 0xff) + (col.meta >> 8 > 0 ? 1 : 0);
      return uintBE(buf, take(c, col, n), n);
    }
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING: {
      const len = lengthPrefix(buf, c, col, col.meta < 256 ? 1 : 2);
      const s = take(c, col, len);
      return stringCell(buf, s, s + len, col);
    }
    case ColumnType.STRING: {
      const length = stringFieldLength(col.meta);
      const len = lengthPrefix(buf, c, col, length > 255 ? 2 : 1);
      const s = take(c, col, len);
      return fixedStringCell(buf, s, s + len, col, length);
    }
    case ColumnType.ENUM: {
      const n = col.type === ColumnType.STRING ? stringFieldLength(col.meta) : col.meta & 0xff;
      const p = take(c, col, n);
      return enumCell(n === 1 ? buf[p]! : buf.readUInt16LE(p), col);
    }
    case ColumnType.SET: {
      const n = col.type === ColumnType.STRING ? stringFieldLength(col.meta) : col.meta & 0xff;
      return setCell(uintLE(buf, take(c, col, n), n), col);
    }
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
    case ColumnType.VECTOR: {
      const len = lengthPrefix(buf, c, col, col.meta);
      const s = take(c, col, len);
      if (col.realType === ColumnType.JSON) {
        return new JsonText(
          jsonBinaryToText(buf, s, s + len, () => ({
            file: c.file,
            offset: c.base + s,
            column: col.index + 1,
          })),
        );
      }
      if (col.realType === ColumnType.GEOMETRY || col.realType === ColumnType.VECTOR)
        return buf.subarray(s, s + len);
      return stringCell(buf, s, s + len, col);
    }
    case ColumnType.NULL:
      return null;
    default:
      throw new SluiceError(
        "BINLOG_UNSUPPORTED_TYPE",
        `column ${col.index + 1}: column type ${columnTypeName[col.realType] ?? col.realType} cannot be decoded`,
        {
          context: { file: c.file, offset: c.base + c.pos, column: col.index + 1, type: col.realType },
          hint: "this column type is not written by MySQL 5.6+ or MariaDB 10.x in row events",
        },
      );
  }
}
