import { SluiceError } from "../../../core/errors.ts";
import { type ColumnDef, ColumnType, columnTypeName, type TableMapEvent } from "./types.ts";

/**
 * Column names and types from outside the binlog (information_schema), for table maps written with
 * binlog_row_metadata=MINIMAL. The decoder is synchronous: a source answers from what it already
 * holds (see src/sources/schema/SchemaResolver.prepare, which loads it before the table map is decoded).
 */
export interface ColumnInfo {
  name: string;
  /** 1-based ORDINAL_POSITION. */
  ordinal: number;
  /** information_schema DATA_TYPE, lowercase (`int`, `varchar`, `enum`, `uuid`, ...). */
  dataType: string;
  unsigned: boolean;
  /** ENUM/SET labels in order. */
  labels?: readonly string[];
  /** CHARACTER_SET_NAME, or undefined for non-character columns. */
  charset?: string;
  /** DATETIME_PRECISION of TIME/DATETIME/TIMESTAMP columns. */
  fsp?: number;
}

export interface ColumnNameSource {
  /**
   * The columns of `schema.table` as they were when the event at `position` was written, or undefined
   * when the source does not know the table (the columns then stay unnamed: `@1`, `@2`, ...).
   */
  columnsAt(
    schema: string,
    table: string,
    position: { file: string; offset: number },
  ): readonly ColumnInfo[] | undefined;
}

const T = ColumnType;
/** Which binlog (real) types a DATA_TYPE may appear as. Unlisted data types are accepted as they come. */
const compatible: Record<string, readonly number[]> = {
  tinyint: [T.TINY],
  smallint: [T.SHORT],
  mediumint: [T.INT24],
  int: [T.LONG],
  integer: [T.LONG],
  bigint: [T.LONGLONG],
  decimal: [T.NEWDECIMAL, T.DECIMAL],
  float: [T.FLOAT],
  double: [T.DOUBLE],
  bit: [T.BIT],
  year: [T.YEAR],
  date: [T.DATE, T.NEWDATE],
  time: [T.TIME, T.TIME2],
  datetime: [T.DATETIME, T.DATETIME2],
  timestamp: [T.TIMESTAMP, T.TIMESTAMP2],
  char: [T.STRING],
  binary: [T.STRING],
  varchar: [T.VARCHAR, T.VAR_STRING],
  varbinary: [T.VARCHAR, T.VAR_STRING],
  tinytext: [T.BLOB],
  text: [T.BLOB],
  mediumtext: [T.BLOB],
  longtext: [T.BLOB],
  tinyblob: [T.BLOB],
  blob: [T.BLOB],
  mediumblob: [T.BLOB],
  longblob: [T.BLOB],
  enum: [T.ENUM],
  set: [T.SET],
  json: [T.JSON, T.BLOB],
  uuid: [T.STRING],
  inet4: [T.STRING],
  inet6: [T.STRING],
  vector: [T.VECTOR, T.VARCHAR],
};
for (const g of [
  "geometry",
  "point",
  "linestring",
  "polygon",
  "multipoint",
  "multilinestring",
  "multipolygon",
  "geometrycollection",
  "geomcollection",
])
  compatible[g] = [T.GEOMETRY];

/**
 * Fills what the table map lacks (names, signedness, labels, charsets, data types) from `source`.
 * Without COLUMN_NAME metadata the schema must match the map column by column (count and types),
 * else SCHEMA_MISMATCH: names are never guessed. With COLUMN_NAME the map is authoritative: schema
 * columns are matched by name, and only those whose type fits add what the map does not say.
 */
export function applyColumnNames(map: TableMapEvent, source: ColumnNameSource): void {
  const info = source.columnsAt(map.schema, map.table, map.position);
  if (info === undefined) return;
  const where = `${map.schema}.${map.table}`;
  if (map.columns.every((c) => c.name !== undefined)) {
    const byName = new Map(info.map((ci) => [ci.name.toLowerCase(), ci]));
    for (const col of map.columns) {
      const ci = byName.get(col.name!.toLowerCase());
      if (ci !== undefined && fits(ci, col.realType)) enrich(col, ci);
    }
    return;
  }
  if (info.length !== map.columnCount)
    throw mismatch(
      map,
      `the table map has ${map.columnCount} columns, the schema of ${where} has ${info.length}`,
    );
  for (let i = 0; i < info.length; i++) {
    const col = map.columns[i]!;
    const ci = info[i]!;
    if (!fits(ci, col.realType))
      throw mismatch(
        map,
        `column ${i + 1} is ${columnTypeName[col.realType] ?? col.realType} in the table map but ${ci.name} ${ci.dataType} in the schema of ${where}`,
      );
    enrich(col, ci);
  }
}

function fits(ci: ColumnInfo, realType: number): boolean {
  const ok = compatible[ci.dataType];
  return ok === undefined || ok.includes(realType);
}

function enrich(col: ColumnDef, ci: ColumnInfo): void {
  col.name ??= ci.name;
  col.unsigned ??= ci.unsigned;
  if (col.labels === undefined && ci.labels !== undefined) col.labels = ci.labels;
  if (col.charset === undefined && ci.charset !== undefined) col.charset = normalizeCharset(ci.charset);
  if (col.charset === undefined && /binary|blob$/.test(ci.dataType)) col.charset = "binary";
  col.dataType = ci.dataType;
  if (
    ci.fsp !== undefined &&
    ci.fsp > 0 &&
    (col.type === ColumnType.TIME || col.type === ColumnType.DATETIME || col.type === ColumnType.TIMESTAMP)
  )
    col.decimals = ci.fsp;
}

function normalizeCharset(cs: string): string {
  return cs === "utf8" ? "utf8mb3" : cs;
}

function mismatch(map: TableMapEvent, message: string): SluiceError {
  return new SluiceError("SCHEMA_MISMATCH", message, {
    context: { table: `${map.schema}.${map.table}`, file: map.position.file, offset: map.position.offset },
    hint: "the table changed between this event and the schema Sluice knows (DDL not seen in the stream); set binlog_row_metadata=FULL on the server, or read from a position after the last ALTER of the table",
  });
}
