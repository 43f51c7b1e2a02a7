import { SluiceError } from "../../../core/errors.ts";
import { ByteReader } from "../reader.ts";
import type { FormatContext } from "../types.ts";
import { EventType } from "../types.ts";
import { charsetOfCollation, decodeText, isTextCharset } from "./charsets.ts";
import { type ColumnDef, ColumnType, type TableMapEvent } from "./types.ts";

/**
 * TABLE_MAP_EVENT (type 19).
 *   post-header: table_id u48 (u32 when the FDE says the post-header is 6 bytes) | flags u16
 *   body: db_len u8 | db | 0x00 | table_len u8 | table | 0x00 | column_count packed
 *         | column_type u8 * count | metadata_len packed | metadata | null_bitmap (count+7)/8 (LSB first)
 *         | optional metadata: { type u8 | length packed | value } ...   (binlog_row_metadata)
 * Per-type metadata: FLOAT/DOUBLE/BLOB/GEOMETRY/JSON/VECTOR/TIME2/DATETIME2/TIMESTAMP2 1 byte;
 * VARCHAR/VAR_STRING u16 LE (max length); NEWDECIMAL precision u8, scale u8; BIT bits%8 u8, bytes u8;
 * STRING/ENUM/SET real_type u8, length u8 (stored here big-endian as real_type<<8 | length).
 */

export const OptionalMetadata = {
  SIGNEDNESS: 1,
  DEFAULT_CHARSET: 2,
  COLUMN_CHARSET: 3,
  COLUMN_NAME: 4,
  SET_STR_VALUE: 5,
  ENUM_STR_VALUE: 6,
  GEOMETRY_TYPE: 7,
  SIMPLE_PRIMARY_KEY: 8,
  PRIMARY_KEY_WITH_PREFIX: 9,
  ENUM_AND_SET_DEFAULT_CHARSET: 10,
  ENUM_AND_SET_COLUMN_CHARSET: 11,
  COLUMN_VISIBILITY: 12,
} as const;

/** Metadata bytes per column type in the table map. */
export function metadataLength(type: number): number {
  switch (type) {
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
    case ColumnType.VECTOR:
    case ColumnType.TIME2:
    case ColumnType.DATETIME2:
    case ColumnType.TIMESTAMP2:
      return 1;
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
    case ColumnType.NEWDECIMAL:
    case ColumnType.BIT:
    case ColumnType.STRING:
    case ColumnType.ENUM:
    case ColumnType.SET:
      return 2;
    default:
      return 0;
  }
}

/**
 * The real type of a STRING column and its byte length, per MySQL's Field_string metadata packing
 * (a CHAR longer than 255 bytes borrows two bits of the real-type byte, MySQL bug #37426).
 */
export function stringRealTypeAndLength(meta: number): { realType: number; length: number } {
  if (meta < 256) return { realType: ColumnType.STRING, length: meta };
  const byte0 = meta >> 8;
  const byte1 = meta & 0xff;
  if ((byte0 & 0x30) !== 0x30) {
    return { realType: byte0 | 0x30, length: byte1 | (((byte0 & 0x30) ^ 0x30) << 4) };
  }
  return { realType: byte0, length: byte1 };
}

/** The byte length part of stringRealTypeAndLength, without allocating (the row decoder's hot path). */
export function stringFieldLength(meta: number): number {
  if (meta < 256) return meta;
  const byte0 = meta >> 8;
  return (byte0 & 0x30) !== 0x30 ? (meta & 0xff) | (((byte0 & 0x30) ^ 0x30) << 4) : meta & 0xff;
}

/**
 * Columns that SIGNEDNESS has a bit for. MariaDB writes one for every column whose field has a sign
 * (its Binlog_type_info), which includes YEAR (a TINYINT underneath); MySQL only for the types below.
 */
export function isNumericType(type: number, flavor: "mysql" | "mariadb" = "mysql"): boolean {
  switch (type) {
    case ColumnType.YEAR:
      return flavor === "mariadb";
    case ColumnType.TINY:
    case ColumnType.SHORT:
    case ColumnType.INT24:
    case ColumnType.LONG:
    case ColumnType.LONGLONG:
    case ColumnType.NEWDECIMAL:
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
    case ColumnType.DECIMAL:
      return true;
    default:
      return false;
  }
}

/** Columns that COLUMN_CHARSET/DEFAULT_CHARSET describe (by real type). */
export function isCharacterType(realType: number): boolean {
  switch (realType) {
    case ColumnType.STRING:
    case ColumnType.VAR_STRING:
    case ColumnType.VARCHAR:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    // Both servers count GEOMETRY (a BLOB underneath, charset binary) and MySQL 9 VECTOR among the
    // character columns: leaving them out shifts every later column's charset.
    case ColumnType.GEOMETRY:
    case ColumnType.VECTOR:
      return true;
    default:
      return false;
  }
}

export function isEnumOrSet(realType: number): boolean {
  return realType === ColumnType.ENUM || realType === ColumnType.SET;
}

/** Why a column's metadata cannot be right, or undefined when it can. */
function invalidMetadata(type: number, meta: number): string | undefined {
  switch (type) {
    case ColumnType.NEWDECIMAL: {
      const precision = meta >> 8;
      const scale = meta & 0xff;
      if (precision < 1 || precision > 65 || scale > 38 || scale > precision)
        return `has DECIMAL(${precision},${scale}) metadata`;
      return undefined;
    }
    case ColumnType.TIME2:
    case ColumnType.DATETIME2:
    case ColumnType.TIMESTAMP2:
      return meta > 6 ? `has fractional-second precision ${meta}` : undefined;
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
    case ColumnType.VECTOR:
      return meta < 1 || meta > 4 ? `has a ${meta}-byte length prefix` : undefined;
    case ColumnType.STRING:
    case ColumnType.ENUM:
    case ColumnType.SET: {
      const { realType, length } = stringRealTypeAndLength(meta);
      if (realType === ColumnType.ENUM && length !== 1 && length !== 2)
        return `is an ENUM of ${length} bytes`;
      if (realType === ColumnType.SET && (length < 1 || length > 8)) return `is a SET of ${length} bytes`;
      return undefined;
    }
    case ColumnType.BIT:
      return (meta & 0xff) > 8 || meta >> 8 > 7 ? `has BIT metadata ${meta >> 8}/${meta & 0xff}` : undefined;
    default:
      return undefined;
  }
}

export function decodeTableMapEvent(
  body: Buffer,
  ctx: FormatContext,
  where: { file: string; offset: number },
): TableMapEvent {
  // The body starts after the 19-byte header: absolute offsets in errors are offset + 19 + pos.
  const r = new ByteReader(body).at(where.file, where.offset + ctx.commonHeaderLength);
  const postHeader = ctx.postHeaderLengths[EventType.TABLE_MAP] || 8;
  const tableId = BigInt(postHeader === 6 ? r.u32("table id") : r.u48("table id"));
  const flags = r.u16("table map flags");
  if (postHeader > 8) r.skip(postHeader - 8, "table map post-header");
  const schemaLen = r.u8("schema name length");
  const schema = r.string(schemaLen, "schema name");
  r.skip(1, "schema name NUL");
  const tableLen = r.u8("table name length");
  const table = r.string(tableLen, "table name");
  r.skip(1, "table name NUL");
  const columnCount = r.lenencLength("column count");
  const columnTypes = r.bytes(columnCount, "column types");
  const metaLen = r.lenencLength("metadata length");
  const mr = r.sub(metaLen, "column metadata");
  const columns: ColumnDef[] = new Array(columnCount);
  for (let i = 0; i < columnCount; i++) {
    const type = columnTypes[i]!;
    let meta = 0;
    switch (metadataLength(type)) {
      case 1:
        meta = mr.u8("column metadata");
        break;
      case 2:
        if (type === ColumnType.VARCHAR || type === ColumnType.VAR_STRING) meta = mr.u16("varchar metadata");
        else meta = mr.uintBE(2, "column metadata");
        break;
    }
    let realType: number = type;
    if (type === ColumnType.STRING || type === ColumnType.ENUM || type === ColumnType.SET) {
      realType = stringRealTypeAndLength(meta).realType;
      if (realType !== ColumnType.ENUM && realType !== ColumnType.SET) realType = ColumnType.STRING;
    }
    const invalid = invalidMetadata(type, meta);
    if (invalid !== undefined)
      throw new SluiceError("BINLOG_BAD_VALUE", `table map ${schema}.${table}: column ${i + 1} ${invalid}`, {
        context: { file: where.file, offset: where.offset, column: i + 1, type, meta },
        hint: "the table map is damaged",
      });
    columns[i] = {
      index: i,
      type,
      realType,
      meta,
      nullable: false,
      name: undefined,
      unsigned: undefined,
      collation: undefined,
      charset: undefined,
      labels: undefined,
      geometryType: undefined,
      visible: undefined,
      dataType: undefined,
      decimals: undefined,
    };
  }
  const nullBits = r.bytes((columnCount + 7) >> 3, "null bitmap");
  for (let i = 0; i < columnCount; i++) columns[i]!.nullable = (nullBits[i >> 3]! & (1 << (i & 7))) !== 0;

  const ev: TableMapEvent = {
    tableId,
    flags,
    schema,
    table,
    columnCount,
    columnTypes: new Uint8Array(columnTypes),
    columns,
    optionalMetadata: [],
    primaryKey: undefined,
    position: { file: where.file, offset: where.offset },
  };
  while (r.remaining > 0) {
    const fieldType = r.u8("optional metadata type");
    const len = r.lenencLength("optional metadata length");
    const fr = r.sub(len, "optional metadata field");
    ev.optionalMetadata.push(fieldType);
    readOptionalField(ev, fieldType, fr, ctx.flavor);
  }
  for (const c of columns) if (isEnumOrSet(c.realType)) decodeLabels(c);
  return ev;
}

/**
 * ENUM/SET labels are written in the column's charset, which ENUM_AND_SET_*_CHARSET may only give
 * after them: they are kept as bytes until the whole optional metadata is read.
 */
const rawLabels = new WeakMap<ColumnDef, Buffer[]>();

function decodeLabels(c: ColumnDef): void {
  const raw = rawLabels.get(c);
  if (raw === undefined) return;
  const cs = c.charset !== undefined && isTextCharset(c.charset) ? c.charset : "utf8mb4";
  c.labels = raw.map((b) => decodeText(b, 0, b.length, cs));
  rawLabels.delete(c);
}

function readOptionalField(
  ev: TableMapEvent,
  fieldType: number,
  r: ByteReader,
  flavor: "mysql" | "mariadb",
): void {
  const cols = ev.columns;
  switch (fieldType) {
    case OptionalMetadata.SIGNEDNESS: {
      let bit = 0;
      const bits = r.rest();
      for (const c of cols) {
        if (!isNumericType(c.realType, flavor)) continue;
        c.unsigned = ((bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0;
        bit++;
      }
      return;
    }
    case OptionalMetadata.DEFAULT_CHARSET:
    case OptionalMetadata.ENUM_AND_SET_DEFAULT_CHARSET: {
      const which = cols.filter((c) =>
        fieldType === OptionalMetadata.DEFAULT_CHARSET
          ? isCharacterType(c.realType)
          : isEnumOrSet(c.realType),
      );
      const def = packed(r, "default charset");
      for (const c of which) setCollation(c, def);
      while (r.remaining > 0) {
        const idx = packed(r, "charset column index");
        const coll = packed(r, "charset collation");
        const c = which[idx];
        if (c === undefined) throw badMeta(ev, r, `charset exception names character column ${idx}`);
        setCollation(c, coll);
      }
      return;
    }
    case OptionalMetadata.COLUMN_CHARSET:
    case OptionalMetadata.ENUM_AND_SET_COLUMN_CHARSET: {
      const which = cols.filter((c) =>
        fieldType === OptionalMetadata.COLUMN_CHARSET ? isCharacterType(c.realType) : isEnumOrSet(c.realType),
      );
      for (const c of which) {
        if (r.remaining === 0) break;
        setCollation(c, packed(r, "column charset"));
      }
      return;
    }
    case OptionalMetadata.COLUMN_NAME:
      for (const c of cols) {
        if (r.remaining === 0) break;
        const n = packed(r, "column name length");
        c.name = r.string(n, "column name");
      }
      return;
    case OptionalMetadata.SET_STR_VALUE:
    case OptionalMetadata.ENUM_STR_VALUE: {
      const want = fieldType === OptionalMetadata.SET_STR_VALUE ? ColumnType.SET : ColumnType.ENUM;
      for (const c of cols) {
        if (c.realType !== want) continue;
        if (r.remaining === 0) break;
        const count = packed(r, "label count");
        const raw: Buffer[] = [];
        for (let k = 0; k < count; k++) raw.push(r.bytes(packed(r, "label length"), "label"));
        rawLabels.set(c, raw);
      }
      return;
    }
    case OptionalMetadata.GEOMETRY_TYPE:
      for (const c of cols) {
        if (c.realType !== ColumnType.GEOMETRY) continue;
        if (r.remaining === 0) break;
        c.geometryType = packed(r, "geometry type");
      }
      return;
    case OptionalMetadata.SIMPLE_PRIMARY_KEY: {
      const pk: Array<{ column: number; prefix: number }> = [];
      while (r.remaining > 0) pk.push({ column: packed(r, "primary key column"), prefix: 0 });
      ev.primaryKey = pk;
      return;
    }
    case OptionalMetadata.PRIMARY_KEY_WITH_PREFIX: {
      const pk: Array<{ column: number; prefix: number }> = [];
      while (r.remaining > 0) {
        const column = packed(r, "primary key column");
        pk.push({ column, prefix: packed(r, "primary key prefix") });
      }
      ev.primaryKey = pk;
      return;
    }
    case OptionalMetadata.COLUMN_VISIBILITY: {
      const bits = r.rest();
      for (const c of cols) c.visible = ((bits[c.index >> 3] ?? 0) & (0x80 >> (c.index & 7))) !== 0;
      return;
    }
    default:
      // Unknown (newer) optional metadata: its length is known, so it is skipped.
      return;
  }
}

function setCollation(c: ColumnDef, id: number): void {
  c.collation = id;
  c.charset = charsetOfCollation(id);
}

function packed(r: ByteReader, what: string): number {
  return r.lenencLength(what);
}

function badMeta(ev: TableMapEvent, r: ByteReader, message: string): SluiceError {
  return new SluiceError("BINLOG_BAD_VALUE", `table map ${ev.schema}.${ev.table}: ${message}`, {
    context: { file: ev.position.file, offset: ev.position.offset, at: r.base + r.pos },
    hint: "the optional metadata of the table map is damaged",
  });
}
