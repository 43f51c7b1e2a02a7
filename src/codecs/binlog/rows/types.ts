/**
 * Vocabulary of the row layer: column type codes as the binlog writes them, the decoded table map,
 * rows events and the values of their cells. Pure types and tables, no I/O.
 */

/** Column type codes of the table map (enum_field_types). */
export const ColumnType = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  TYPED_ARRAY: 20,
  VECTOR: 242,
  INVALID: 243,
  BOOL: 244,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

export const columnTypeName: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(ColumnType).map(([k, v]) => [v, k])),
);

/** Marks a column that is not part of a row image (binlog_row_image MINIMAL/NOBLOB). Never null. */
export const ABSENT: unique symbol = Symbol.for("sluice.binlog.absent");
export type Absent = typeof ABSENT;

/** A MySQL binary JSON document, already rendered as MySQL prints it (`{"a": 1, "b": [true, null]}`). */
export class JsonText {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/**
 * A JSON column of a PARTIAL_UPDATE_ROWS after image whose before image was not available: the list
 * of JSON diffs the server logged instead of the whole document.
 */
export interface JsonDiff {
  op: "replace" | "insert" | "remove";
  path: string;
  value?: JsonText;
}
export class JsonDiffList {
  constructor(readonly diffs: readonly JsonDiff[]) {}
}

/**
 * A decoded cell. See docs/binlog-values.md for which column type yields which representation:
 * integers number (bigint beyond 2^53), DECIMAL/temporal/text/labels string, binary Buffer, MySQL JSON
 * JsonText, SQL NULL null, not in the image ABSENT.
 */
export type CellValue = number | bigint | string | Buffer | null | JsonText | JsonDiffList | Absent;

/** A column as the decoder sees it: binlog type, metadata and what optional metadata or the schema adds. */
export interface ColumnDef {
  index: number;
  /** Type code as written in the table map (for STRING this is the "binlog" type, see realType). */
  type: number;
  /** Real type: for STRING columns the metadata's real type (ENUM, SET or STRING); else = type. */
  realType: number;
  /** Raw metadata value (meaning depends on the type; see table-map.ts). */
  meta: number;
  nullable: boolean;
  /** Column name: from COLUMN_NAME metadata, or the schema resolver; undefined when unknown. */
  name: string | undefined;
  /** Signedness for numeric columns: from SIGNEDNESS metadata or the resolver; undefined when unknown. */
  unsigned: boolean | undefined;
  /** Collation id for character columns (DEFAULT/COLUMN_CHARSET); undefined when unknown. */
  collation: number | undefined;
  /** Charset name resolved from the collation or the schema; "binary" for binary strings. */
  charset: string | undefined;
  /** ENUM/SET labels. */
  labels: readonly string[] | undefined;
  geometryType: number | undefined;
  /** False for MySQL invisible columns (COLUMN_VISIBILITY); undefined when unknown. */
  visible: boolean | undefined;
  /**
   * The server's data type name when the schema resolver knows it (e.g. "uuid", "inet6", "json"):
   * lets MariaDB types that the binlog writes as plain fixed strings print as the server prints them.
   */
  dataType: string | undefined;
  /**
   * Fractional-second digits from the schema, for the old temporal type codes only: MariaDB's own
   * fractional TIME/DATETIME/TIMESTAMP format is logged without metadata (see temporal.ts).
   */
  decimals: number | undefined;
}

export interface TableMapEvent {
  tableId: bigint;
  flags: number;
  schema: string;
  table: string;
  columnCount: number;
  /** Column type codes as in the event (one byte each). */
  columnTypes: Uint8Array;
  columns: ColumnDef[];
  /** Which optional metadata fields were present (their type codes). */
  optionalMetadata: number[];
  /** Primary key column indexes (with prefix length 0 = whole column), when logged. */
  primaryKey: Array<{ column: number; prefix: number }> | undefined;
  /** Where the table map was read. */
  position: { file: string; offset: number };
}

export const RowsEventKind = { WRITE: "write", UPDATE: "update", DELETE: "delete" } as const;
export type RowsEventKindName = (typeof RowsEventKind)[keyof typeof RowsEventKind];

/** One row of a rows event: one cell per table column in each image, ABSENT for columns not in it. */
export interface RowChange {
  before?: CellValue[];
  after?: CellValue[];
}

export interface RowsEvent {
  typeCode: number;
  kind: RowsEventKindName;
  tableId: bigint;
  table: TableMapEvent;
  flags: number;
  /** STMT_END_F: last rows event of the statement; the table-map cache may be cleared after it. */
  stmtEnd: boolean;
  columnCount: number;
  /** Columns present in the before image (deletes, updates) / after image (writes, updates). */
  presentBefore: boolean[] | undefined;
  presentAfter: boolean[] | undefined;
  /** Extra data of v2 events: NDB info and MySQL partition ids, when present. */
  extra: { ndb?: Buffer; partitionId?: number; sourcePartitionId?: number } | undefined;
  rows: RowChange[];
  position: { file: string; offset: number };
}

/** Rows event flags. */
export const RowsEventFlag = {
  STMT_END: 0x0001,
  NO_FOREIGN_KEY_CHECKS: 0x0002,
  RELAXED_UNIQUE_CHECKS: 0x0004,
  COMPLETE_ROWS: 0x0008,
} as const;
