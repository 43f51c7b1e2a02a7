import { inflateSync } from "node:zlib";
import { SluiceError } from "../../../core/errors.ts";
import { ByteReader } from "../reader.ts";
import type { FormatContext } from "../types.ts";
import { EventType } from "../types.ts";
import { type Cursor, decodeCell } from "./cells.ts";
import { jsonBinaryToText } from "./json-binary.ts";
import { applyJsonDiffs } from "./json-diff.ts";
import {
  ABSENT,
  type CellValue,
  ColumnType,
  type JsonDiff,
  JsonDiffList,
  JsonText,
  type RowChange,
  type RowsEvent,
  RowsEventFlag,
  type RowsEventKindName,
  type TableMapEvent,
} from "./types.ts";

/**
 * WRITE/UPDATE/DELETE_ROWS v1 (23-25), v2 (30-32), PARTIAL_UPDATE_ROWS (39), MariaDB compressed (166-171).
 *   post-header: table_id u48 | flags u16 | [v2: extra_len u16 (counts itself) | extra data]
 *   body: column_count packed | columns-present bitmap (before image, or after for writes)
 *         | [update: columns-present bitmap of the after image] | rows
 *   row image: null bitmap over the present columns (LSB first) | cells of present, non-NULL columns
 *   PARTIAL_UPDATE after image: value_options packed | [bit 0: partial-JSON bitmap, one bit per JSON
 *         column of the table] | null bitmap | cells, where partial JSON cells hold JSON diffs
 *   MariaDB compressed: the rows part is 1 byte 0x8N | N-byte big-endian uncompressed length | zlib
 * Extra data (v2): tag 0 NDB info (len u8 counting itself, format u8, data); tag 1 partition id u16
 * [update: source partition id u16].
 */

export interface RowsEventLayout {
  kind: RowsEventKindName;
  v2: boolean;
  compressed: boolean;
  partial: boolean;
}

export function rowsEventLayout(typeCode: number): RowsEventLayout | undefined {
  switch (typeCode) {
    case EventType.WRITE_ROWS_V1:
      return { kind: "write", v2: false, compressed: false, partial: false };
    case EventType.UPDATE_ROWS_V1:
      return { kind: "update", v2: false, compressed: false, partial: false };
    case EventType.DELETE_ROWS_V1:
      return { kind: "delete", v2: false, compressed: false, partial: false };
    case EventType.WRITE_ROWS_V2:
      return { kind: "write", v2: true, compressed: false, partial: false };
    case EventType.UPDATE_ROWS_V2:
      return { kind: "update", v2: true, compressed: false, partial: false };
    case EventType.DELETE_ROWS_V2:
      return { kind: "delete", v2: true, compressed: false, partial: false };
    case EventType.PARTIAL_UPDATE_ROWS:
      return { kind: "update", v2: true, compressed: false, partial: true };
    case EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1:
      return { kind: "write", v2: false, compressed: true, partial: false };
    case EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1:
      return { kind: "update", v2: false, compressed: true, partial: false };
    case EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1:
      return { kind: "delete", v2: false, compressed: true, partial: false };
    case EventType.MARIADB_WRITE_ROWS_COMPRESSED:
      return { kind: "write", v2: true, compressed: true, partial: false };
    case EventType.MARIADB_UPDATE_ROWS_COMPRESSED:
      return { kind: "update", v2: true, compressed: true, partial: false };
    case EventType.MARIADB_DELETE_ROWS_COMPRESSED:
      return { kind: "delete", v2: true, compressed: true, partial: false };
    default:
      return undefined;
  }
}

/** Everything of a rows event except its rows, plus where the rows start: the input of iterateRows. */
export interface RowsEventFrame {
  header: Omit<RowsEvent, "rows">;
  layout: RowsEventLayout;
  /** Rows data (decompressed for MariaDB compressed events) and its bounds. */
  data: Buffer;
  start: number;
  end: number;
  /** Absolute file offset of data[0] for error messages (approximate for decompressed data). */
  base: number;
}

function readBitmap(r: ByteReader, count: number, what: string): boolean[] {
  const bytes = r.bytes((count + 7) >> 3, what);
  const out: boolean[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[i >> 3]! & (1 << (i & 7))) !== 0;
  return out;
}

/** Parses the header, extra data and bitmaps of a rows event; the rows are read by iterateRows. */
export function openRowsEvent(
  body: Buffer,
  typeCode: number,
  ctx: FormatContext,
  tables: ReadonlyMap<bigint, TableMapEvent>,
  where: { file: string; offset: number },
): RowsEventFrame {
  const layout = rowsEventLayout(typeCode);
  const bodyBase = where.offset + ctx.commonHeaderLength;
  if (layout === undefined)
    throw new SluiceError("BINLOG_BAD_VALUE", `event type ${typeCode} is not a rows event`, {
      context: { file: where.file, offset: where.offset, type: typeCode },
    });
  const r = new ByteReader(body).at(where.file, bodyBase);
  // 0 or missing: a FORMAT_DESCRIPTION from before this event type existed; use its standard size.
  const postHeader = ctx.postHeaderLengths[typeCode] || (layout.v2 ? 10 : 8);
  const tableId = BigInt(postHeader === 6 ? r.u32("table id") : r.u48("table id"));
  const flags = r.u16("rows event flags");
  let extra: RowsEvent["extra"];
  if (layout.v2 && postHeader >= 10) {
    const extraLen = r.u16("extra data length");
    if (extraLen < 2) throw bad(where, `extra data length ${extraLen} is below 2`);
    const er = r.sub(extraLen - 2, "extra data");
    extra = readExtra(er, layout);
    if (postHeader > 10) r.skip(postHeader - 10, "rows post-header");
  } else if (postHeader > 8 && !layout.v2) {
    r.skip(postHeader - 8, "rows post-header");
  }
  const table = tables.get(tableId);
  if (table === undefined)
    throw new SluiceError("BINLOG_UNKNOWN_TABLE", `rows event for table id ${tableId} without a table map`, {
      context: { file: where.file, offset: where.offset, tableId },
      hint: "start reading at the transaction's first event (its TABLE_MAP precedes the rows events)",
    });
  const columnCount = r.lenencLength("column count");
  if (columnCount !== table.columnCount)
    throw new SluiceError(
      "BINLOG_TABLE_MISMATCH",
      `rows event has ${columnCount} columns, its table map ${table.schema}.${table.table} has ${table.columnCount}`,
      { context: { file: where.file, offset: where.offset, tableId } },
    );
  const first = readBitmap(r, columnCount, "columns-present bitmap");
  const second =
    layout.kind === "update" ? readBitmap(r, columnCount, "after-image columns bitmap") : undefined;
  let data = body;
  let start = r.pos;
  let end = body.length;
  let base = bodyBase;
  if (layout.compressed) {
    data = uncompressMariadb(body, r.pos, where, bodyBase);
    start = 0;
    end = data.length;
  }
  const header: Omit<RowsEvent, "rows"> = {
    typeCode,
    kind: layout.kind,
    tableId,
    table,
    flags,
    stmtEnd: (flags & RowsEventFlag.STMT_END) !== 0,
    columnCount,
    presentBefore: layout.kind === "write" ? undefined : first,
    presentAfter: layout.kind === "write" ? first : second,
    extra,
    position: { file: where.file, offset: where.offset },
  };
  if (layout.compressed) base = bodyBase + r.pos;
  return { header, layout, data, start, end, base };
}

function readExtra(r: ByteReader, layout: RowsEventLayout): NonNullable<RowsEvent["extra"]> {
  const out: NonNullable<RowsEvent["extra"]> = {};
  while (r.remaining > 0) {
    const tag = r.u8("extra data tag");
    if (tag === 0) {
      const len = r.u8("NDB info length");
      if (len < 2) break;
      r.pos -= 1;
      out.ndb = r.bytes(len, "NDB info");
    } else if (tag === 1) {
      if (layout.kind === "update") out.sourcePartitionId = r.u16("source partition id");
      out.partitionId = r.u16("partition id");
    } else {
      // Unknown extra data: the frame's length is known, skip the rest.
      r.rest();
    }
  }
  return out;
}

function uncompressMariadb(
  body: Buffer,
  pos: number,
  where: { file: string; offset: number },
  base: number,
): Buffer {
  const head = body[pos];
  if (head === undefined || (head & 0xe0) !== 0x80)
    throw bad(where, "compressed rows do not start with a 0x8N header byte", base + pos);
  const lenBytes = head & 0x07;
  if (lenBytes < 1 || lenBytes > 4 || pos + 1 + lenBytes > body.length)
    throw bad(where, `compressed rows length field of ${lenBytes} bytes`, base + pos);
  const expected = body.readUIntBE(pos + 1, lenBytes);
  let out: Buffer;
  try {
    out = inflateSync(body.subarray(pos + 1 + lenBytes));
  } catch (e) {
    throw new SluiceError("BINLOG_BAD_VALUE", "compressed rows event does not inflate", {
      context: { file: where.file, offset: where.offset },
      hint: "the event is damaged",
      cause: e,
    });
  }
  if (out.length !== expected)
    throw bad(
      where,
      `compressed rows inflate to ${out.length} bytes, the header says ${expected}`,
      base + pos,
    );
  return out;
}

function bad(where: { file: string; offset: number }, message: string, at?: number): SluiceError {
  return new SluiceError("BINLOG_BAD_VALUE", `rows event: ${message}`, {
    context: { file: where.file, offset: where.offset, at },
    hint: "the event is damaged",
  });
}

/**
 * Yields the rows of a rows event one by one: a caller streaming a huge event holds one row at a
 * time. Cell values are views into the event's buffer (BLOBs are not copied).
 */
export function* iterateRows(frame: RowsEventFrame): Generator<RowChange, void, undefined> {
  const { header, layout, data } = frame;
  const table = header.table;
  const cols = table.columns;
  const c: Cursor = { pos: frame.start, end: frame.end, file: header.position.file, base: frame.base };
  const jsonIndexes = layout.partial
    ? cols.filter((x) => x.realType === ColumnType.JSON).map((x) => x.index)
    : [];
  while (c.pos < c.end) {
    const rowStart = c.pos;
    const change: RowChange = {};
    if (layout.kind === "write") {
      change.after = readImage(data, c, table, header.presentAfter!, undefined);
    } else if (layout.kind === "delete") {
      change.before = readImage(data, c, table, header.presentBefore!, undefined);
    } else {
      change.before = readImage(data, c, table, header.presentBefore!, undefined);
      let partialJson: Set<number> | undefined;
      if (layout.partial) {
        const r = new ByteReader(data, c.pos, c.end).at(c.file, c.base);
        const options = r.lenencInt("value options");
        if (typeof options === "number" && (options & 1) !== 0) {
          const bits = r.bytes((jsonIndexes.length + 7) >> 3, "partial JSON bitmap");
          partialJson = new Set();
          jsonIndexes.forEach((col, k) => {
            if (bits[k >> 3]! & (1 << (k & 7))) partialJson!.add(col);
          });
        }
        c.pos = r.pos;
      }
      change.after = readImage(data, c, table, header.presentAfter!, partialJson);
      if (partialJson !== undefined) applyPartialJson(change.before, change.after, partialJson);
    }
    if (c.pos === rowStart) return; // an image of zero columns: nothing more to read
    yield change;
  }
}

const presentCounts = new WeakMap<boolean[], number>();

/** Columns set in a bitmap, computed once per event image rather than once per row. */
function countPresent(present: boolean[]): number {
  let n = presentCounts.get(present);
  if (n === undefined) {
    n = 0;
    for (const p of present) if (p) n++;
    presentCounts.set(present, n);
  }
  return n;
}

function readImage(
  buf: Buffer,
  c: Cursor,
  table: TableMapEvent,
  present: boolean[],
  partialJson: Set<number> | undefined,
): CellValue[] {
  const cols = table.columns;
  const n = cols.length;
  const nullBytes = (countPresent(present) + 7) >> 3;
  if (c.pos + nullBytes > c.end)
    throw new SluiceError(
      "BINLOG_TRUNCATED",
      `row image null bitmap of ${nullBytes} bytes runs past the event`,
      {
        context: { file: c.file, offset: c.base + c.pos, table: `${table.schema}.${table.table}` },
        hint: "the file is damaged or truncated",
      },
    );
  const nullAt = c.pos;
  c.pos += nullBytes;
  const values: CellValue[] = new Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (!present[i]) {
      values[i] = ABSENT;
      continue;
    }
    const isNull = (buf[nullAt + (k >> 3)]! & (1 << (k & 7))) !== 0;
    k++;
    if (isNull) {
      values[i] = null;
    } else if (partialJson?.has(i)) {
      values[i] = readJsonDiffs(buf, c, cols[i]!.meta);
    } else {
      values[i] = decodeCell(buf, c, cols[i]!);
    }
  }
  return values;
}

const DIFF_OPS = ["replace", "insert", "remove"] as const;

/** A partial JSON cell: length (the column's pack length) | { op u8 | path lenenc | [value lenenc] }*. */
function readJsonDiffs(buf: Buffer, c: Cursor, packLength: number): JsonDiffList {
  const r = new ByteReader(buf, c.pos, c.end).at(c.file, c.base);
  r.need(packLength, "JSON diff length");
  const len = packLength === 0 ? 0 : buf.readUIntLE(r.pos, packLength);
  r.pos += packLength;
  const dr = r.sub(len, "JSON diffs");
  c.pos = r.pos;
  const diffs: JsonDiff[] = [];
  while (dr.remaining > 0) {
    const opCode = dr.u8("JSON diff operation");
    const op = DIFF_OPS[opCode];
    if (op === undefined)
      throw new SluiceError("BINLOG_BAD_VALUE", `JSON diff operation ${opCode} is unknown`, {
        context: { file: c.file, offset: c.base + dr.pos - 1 },
      });
    const path = dr.string(dr.lenencLength("JSON diff path length"), "JSON diff path");
    if (op === "remove") {
      diffs.push({ op, path });
    } else {
      const vlen = dr.lenencLength("JSON diff value length");
      const at = dr.pos;
      dr.skip(vlen, "JSON diff value");
      diffs.push({
        op,
        path,
        value: new JsonText(
          jsonBinaryToText(buf, at, at + vlen, () => ({ file: c.file, offset: c.base + at })),
        ),
      });
    }
  }
  return new JsonDiffList(diffs);
}

/** Applies JSON diffs to the before image's documents; where no before document exists the diff stays. */
function applyPartialJson(before: CellValue[] | undefined, after: CellValue[], partial: Set<number>): void {
  for (const i of partial) {
    const diff = after[i];
    const doc = before?.[i];
    if (!(diff instanceof JsonDiffList) || !(doc instanceof JsonText)) continue;
    const applied = applyJsonDiffs(doc.text, diff.diffs);
    if (applied !== undefined) after[i] = new JsonText(applied);
  }
}

/**
 * Decodes a whole rows event (all rows in memory); `tables` is the table-map cache (table id -> last
 * TABLE_MAP). For huge events use openRowsEvent + iterateRows, which hold one row at a time.
 */
export function decodeRowsEvent(
  body: Buffer,
  typeCode: number,
  ctx: FormatContext,
  tables: ReadonlyMap<bigint, TableMapEvent>,
  where: { file: string; offset: number },
): RowsEvent {
  const frame = openRowsEvent(body, typeCode, ctx, tables, where);
  const rows: RowChange[] = [];
  for (const row of iterateRows(frame)) rows.push(row);
  return { ...frame.header, rows };
}
