/**
 * The JSON line of a rows event written straight from its row bytes and table map: byte for byte
 * `JSON.stringify(eventToJson(ev))` (docs/binlog-output.md, docs/binlog-values.md) with no cell value,
 * row object or string built for the common columns. Integers are formatted into ASCII digits, text
 * in utf8/latin1/ascii copied with its JSON escapes, binary strings base64-encoded, and column keys
 * are bytes made once per table. Every other column type goes through the row decoder's own cell
 * function and the reference text of that cell, one cell at a time. A table this writer cannot
 * render exactly (column names that an object would reorder, JSON-typed columns, PARTIAL_UPDATE
 * events) is left to the reference path for the whole event, and so is a damaged event: its bytes
 * are dropped and the reference path throws the decoder's error.
 */
import type { BinlogEvent } from "../events.ts";
import { cellJson, columnKeys, jsonString } from "../jsonl-writer.ts";
import { type Cursor, decodeCell } from "../rows/cells.ts";
import type { RowsEventFrame } from "../rows/rows-event.ts";
import { stringFieldLength } from "../rows/table-map.ts";
import { type ColumnDef, ColumnType, type TableMapEvent } from "../rows/types.ts";
import { envelope } from "./envelope.ts";
import { putAscii, putBytes, putInt } from "./put.ts";
import type { JsonlSink } from "./sink.ts";
import { TextMode, type WordSource, wordSource, writeText } from "./text.ts";

/** How a column's cells are written. */
const K = {
  /** The row decoder's decodeCell, then the reference text of the value. */
  GENERIC: 0,
  I8: 1,
  U8: 2,
  I16: 3,
  U16: 4,
  I24: 5,
  U24: 6,
  I32: 7,
  U32: 8,
  I64: 9,
  U64: 10,
  /** Length-prefixed text (lenBytes 1-4) in a TextMode. */
  TEXT: 11,
  /** Length-prefixed text of unknown charset: text when well-formed UTF-8, else binary. */
  TEXT_OR_BINARY: 12,
  /** Length-prefixed binary string: {"base64":"..."}. */
  BINARY: 13,
} as const;

interface ColumnPlan {
  col: ColumnDef;
  kind: number;
  /** Bytes of the length prefix (string kinds). */
  lenBytes: number;
  mode: (typeof TextMode)[keyof typeof TextMode];
  /** `"name":` as UTF-8. */
  key: Uint8Array;
}

interface TablePlan {
  cols: ColumnPlan[];
  /**
   * Bytes a row may take in the line besides 6 per byte of its cells: braces, labels, and per
   * column a comma, the key and 24 (the widest integer; text and base64 are within 24 + 6 per byte).
   */
  rowBound: number;
  /** `,"schema":...,"table":...,"rows":[` as UTF-8. */
  prefix: Uint8Array;
}

/** Data types the schema resolver may name whose cells are the plain binlog types they are logged as. */
const PLAIN_DATA_TYPES = new Set([
  "tinyint",
  "smallint",
  "mediumint",
  "int",
  "integer",
  "bigint",
  "char",
  "varchar",
  "tinytext",
  "text",
  "mediumtext",
  "longtext",
  "varbinary",
  "tinyblob",
  "blob",
  "mediumblob",
  "longblob",
]);

function textMode(charset: string): (typeof TextMode)[keyof typeof TextMode] | undefined {
  switch (charset) {
    case "utf8mb4":
    case "utf8mb3":
    case "utf8":
      return TextMode.UTF8;
    case "latin1":
      return TextMode.LATIN1;
    case "ascii":
      return TextMode.ASCII;
    default:
      return undefined;
  }
}

/** Charsets the row decoder decodes as text in ways this writer leaves to it (UTF-16/32). */
function isWideCharset(charset: string): boolean {
  return charset === "ucs2" || charset === "utf16" || charset === "utf16le" || charset === "utf32";
}

function integerKind(col: ColumnDef): number | undefined {
  const u = col.unsigned === true;
  switch (col.realType) {
    case ColumnType.TINY:
      return u ? K.U8 : K.I8;
    case ColumnType.SHORT:
      return u ? K.U16 : K.I16;
    case ColumnType.INT24:
      return u ? K.U24 : K.I24;
    case ColumnType.LONG:
      return u ? K.U32 : K.I32;
    case ColumnType.LONGLONG:
      return u ? K.U64 : K.I64;
    default:
      return undefined;
  }
}

function columnPlan(col: ColumnDef, key: string): ColumnPlan {
  const plan: ColumnPlan = {
    col,
    kind: K.GENERIC,
    lenBytes: 0,
    mode: TextMode.UTF8,
    key: Buffer.from(key, "utf8"),
  };
  if (col.dataType !== undefined && !PLAIN_DATA_TYPES.has(col.dataType)) return plan;
  const int = integerKind(col);
  if (int !== undefined) {
    plan.kind = int;
    return plan;
  }
  let lenBytes: number;
  switch (col.realType) {
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
      lenBytes = col.meta < 256 ? 1 : 2;
      break;
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
      lenBytes = col.meta;
      break;
    case ColumnType.STRING:
      // Binary CHARs are padded back to their length by the decoder: left to it.
      if (col.charset === undefined || col.charset === "binary") return plan;
      lenBytes = stringFieldLength(col.meta) > 255 ? 2 : 1;
      break;
    default:
      return plan;
  }
  if (lenBytes < 1 || lenBytes > 4) return plan;
  plan.lenBytes = lenBytes;
  const cs = col.charset;
  if (cs === undefined) {
    plan.kind = K.TEXT_OR_BINARY;
    return plan;
  }
  const mode = textMode(cs);
  if (mode !== undefined) {
    plan.kind = K.TEXT;
    plan.mode = mode;
  } else if (!isWideCharset(cs)) {
    // "binary", and charsets the decoder keeps as bytes
    plan.kind = K.BINARY;
  }
  return plan;
}

/** Plans by the table map's columns (table maps of the same bytes may share them). */
const plans = new WeakMap<ColumnDef[], TablePlan | null>();

/** The plan of a table, or null when its events take the reference path. */
function tablePlan(t: TableMapEvent): TablePlan | null {
  let plan = plans.get(t.columns);
  if (plan === undefined) {
    const keys = columnKeys(t.columns);
    plan =
      keys === undefined || t.columns.some((c) => c.dataType === "json")
        ? null
        : {
            cols: t.columns.map((c, i) => columnPlan(c, keys[i]!)),
            rowBound: 64 + 2 * keys.reduce((n, k) => n + Buffer.byteLength(k) + 1 + INT_BOUND, 0),
            prefix: Buffer.from(`,"schema":${jsonString(t.schema)},"table":${jsonString(t.table)},"rows":[`),
          };
    plans.set(t.columns, plan);
  }
  return plan;
}

/** Rows events with more row bytes than this take the reference path. */
const MAX_EVENT_ROWS_BYTES = 4 * 1024 * 1024;

/** The event is damaged or needs the reference path: nothing of it is kept. */
const BAIL = -1;

const MAX_SAFE_HI = 0x200000;

/** A BIGINT: a number within ±(2^53-1), else its decimal string (bigintToJson). */
function putInt64(dst: Uint8Array, o: number, data: Buffer, p: number, unsigned: boolean): number {
  const lo = (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16)) + data[p + 3]! * 0x1000000;
  const hiU = (data[p + 4]! | (data[p + 5]! << 8) | (data[p + 6]! << 16) | (data[p + 7]! << 24)) >>> 0;
  if (unsigned) {
    if (hiU < MAX_SAFE_HI) return putInt(dst, o, hiU * 0x100000000 + lo);
    return putQuoted(dst, o, data.readBigUInt64LE(p).toString());
  }
  const hi = hiU | 0;
  if (hi >= -MAX_SAFE_HI && hi < MAX_SAFE_HI) {
    const v = hi * 0x100000000 + lo;
    if (v >= -Number.MAX_SAFE_INTEGER) return putInt(dst, o, v);
  }
  return putQuoted(dst, o, data.readBigInt64LE(p).toString());
}

function putQuoted(dst: Uint8Array, o: number, s: string): number {
  dst[o++] = 0x22;
  o = putAscii(dst, o, s);
  dst[o++] = 0x22;
  return o;
}

const BASE64_OPEN = Buffer.from('{"base64":"');
const BASE64_CLOSE = Buffer.from('"}');

/** Bytes of the widest integer cell: a quoted 20-digit BIGINT or a signed one with its sign. */
const INT_BOUND = 24;

/** Per-event state of the image writer. */
interface State {
  sink: JsonlSink;
  data: Buffer;
  end: number;
  cursor: Cursor;
  rowBound: number;
  words: WordSource;
}

/**
 * Makes room at `o` for the rest of a row whose cells start at `p` (see TablePlan.rowBound): the
 * cells that follow need no check of their own. Returns the (possibly new) output buffer.
 */
function room(st: State, o: number, p: number): Uint8Array {
  const sink = st.sink;
  const n = st.rowBound + 6 * (st.end - p);
  if (o + n > sink.buf.length) {
    sink.pos = o;
    sink.reserve(n);
  }
  return sink.buf;
}

/**
 * One row image: `{"col":value,...}` over the present columns, from the null bitmap at `p`.
 * Returns the position after the image in the row bytes, or BAIL.
 */
function writeImage(
  st: State,
  p: number,
  cols: ColumnPlan[],
  present: boolean[],
  presentCount: number,
): number {
  const data = st.data;
  const end = st.end;
  const nullBytes = (presentCount + 7) >> 3;
  if (p + nullBytes > end) return BAIL;
  const nullAt = p;
  p += nullBytes;
  let dst: Uint8Array = st.sink.buf;
  let o = st.sink.pos;
  dst[o++] = 0x7b;
  let k = 0;
  for (let i = 0; i < cols.length; i++) {
    if (!present[i]) continue;
    const cp = cols[i]!;
    const isNull = (data[nullAt + (k >> 3)]! & (1 << (k & 7))) !== 0;
    const key = cp.key;
    if (k > 0) dst[o++] = 0x2c;
    k++;
    o = putBytes(dst, o, key);
    if (isNull) {
      dst[o++] = 0x6e;
      dst[o++] = 0x75;
      dst[o++] = 0x6c;
      dst[o++] = 0x6c;
      continue;
    }
    // (literal cases: a switch over the K.* properties loads each of them per cell)
    switch (cp.kind) {
      case 1: // I8
        if (p + 1 > end) return BAIL;
        o = putInt(dst, o, (data[p]! << 24) >> 24);
        p += 1;
        break;
      case 2: // U8
        if (p + 1 > end) return BAIL;
        o = putInt(dst, o, data[p]!);
        p += 1;
        break;
      case 3: // I16
        if (p + 2 > end) return BAIL;
        o = putInt(dst, o, ((data[p]! | (data[p + 1]! << 8)) << 16) >> 16);
        p += 2;
        break;
      case 4: // U16
        if (p + 2 > end) return BAIL;
        o = putInt(dst, o, data[p]! | (data[p + 1]! << 8));
        p += 2;
        break;
      case 5: // I24
        if (p + 3 > end) return BAIL;
        o = putInt(dst, o, ((data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16)) << 8) >> 8);
        p += 3;
        break;
      case 6: // U24
        if (p + 3 > end) return BAIL;
        o = putInt(dst, o, data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16));
        p += 3;
        break;
      case 7: // I32
        if (p + 4 > end) return BAIL;
        o = putInt(dst, o, data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24));
        p += 4;
        break;
      case 8: // U32
        if (p + 4 > end) return BAIL;
        o = putInt(
          dst,
          o,
          (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24)) >>> 0,
        );
        p += 4;
        break;
      case 9: // I64
      case 10: // U64
        if (p + 8 > end) return BAIL;
        o = putInt64(dst, o, data, p, cp.kind === 10 /* U64 */);
        p += 8;
        break;
      case 11: // TEXT
      case 12: // TEXT_OR_BINARY
      case 13: {
        // BINARY
        const lb = cp.lenBytes;
        if (p + lb > end) return BAIL;
        // (VARCHARs longer than 255 bytes, utf8mb4 ones from 64 characters, have two: read here)
        const len = lb === 1 ? data[p]! : lb === 2 ? data[p]! | (data[p + 1]! << 8) : data.readUIntLE(p, lb);
        const s = p + lb;
        if (s + len > end) return BAIL;
        if (cp.kind === 13 /* BINARY */) {
          const b64 = data.toString("base64", s, s + len);
          o = putBytes(dst, o, BASE64_OPEN);
          o = putAscii(dst, o, b64);
          o = putBytes(dst, o, BASE64_CLOSE);
          p = s + len;
          break;
        }
        const after = writeText(st.sink, o, data, st.words, s, s + len, cp.mode);
        if (after >= 0) {
          o = after;
          p = s + len;
          break;
        }
        // not well-formed UTF-8: the decoder's reading of it (replacement characters, or bytes)
        o = generic(st, o, p, cp.col);
        if (o < 0) return BAIL;
        p = st.cursor.pos;
        dst = room(st, o, p);
        break;
      }
      default:
        o = generic(st, o, p, cp.col);
        if (o < 0) return BAIL;
        p = st.cursor.pos;
        dst = room(st, o, p);
    }
  }
  dst[o++] = 0x7d;
  st.sink.pos = o;
  return p;
}

/**
 * The cell at `p` through the row decoder and the reference text of its value, written at `o`;
 * returns the position after it (the cursor is after the cell). Throws on damage.
 */
function generic(st: State, o: number, p: number, col: ColumnDef): number {
  st.cursor.pos = p;
  const v = decodeCell(st.data, st.cursor, col);
  const text = cellJson(v, col);
  if (text === undefined) return BAIL;
  const sink = st.sink;
  sink.pos = o;
  sink.string(text);
  return sink.pos;
}

function countPresent(present: boolean[]): number {
  let n = 0;
  for (const p of present) if (p) n++;
  return n;
}

const cursor: Cursor = { pos: 0, end: 0, file: "", base: 0 };

const BEFORE = Buffer.from('"before":');
const AFTER = Buffer.from(',"after":');
const AFTER_ONLY = Buffer.from('"after":');

/**
 * Writes the JSON line (without its newline) of a rows event whose rows are still bytes (`frame`)
 * into `sink`; false, with nothing written, when the event must take the reference path.
 */
export function writeRowsEventJson(ev: BinlogEvent, frame: RowsEventFrame, sink: JsonlSink): boolean {
  const header = frame.header;
  // (a huge event, a row with big BLOBs: its room is reserved row by row at 6 bytes per byte)
  if (frame.end - frame.start > MAX_EVENT_ROWS_BYTES) return false;
  const plan = frame.layout.partial ? null : tablePlan(header.table);
  if (plan === null) return false;
  const mark = sink.pos;
  try {
    if (writeRows(ev, frame, plan, sink)) return true;
  } catch {
    // damaged (the reference path throws the decoder's error for it), or a cell it must render
  }
  sink.rewind(mark);
  return false;
}

function writeRows(ev: BinlogEvent, frame: RowsEventFrame, plan: TablePlan, sink: JsonlSink): boolean {
  const { header, data } = frame;
  const kind = header.kind;
  const cols = plan.cols;
  if (cols.length !== header.table.columns.length) return false;
  const before = kind === "write" ? undefined : header.presentBefore;
  const after = kind === "delete" ? undefined : header.presentAfter;
  if ((kind !== "write" && before === undefined) || (kind !== "delete" && after === undefined)) return false;
  const nBefore = before === undefined ? 0 : countPresent(before);
  const nAfter = after === undefined ? 0 : countPresent(after);
  cursor.end = frame.end;
  cursor.file = header.position.file;
  cursor.base = frame.base;
  const st: State = { sink, data, end: frame.end, cursor, rowBound: plan.rowBound, words: wordSource(data) };
  envelope(ev, sink);
  sink.reserve(plan.prefix.length);
  sink.pos = putBytes(sink.buf, sink.pos, plan.prefix);
  let p = frame.start;
  let first = true;
  while (p < frame.end) {
    const rowStart = p;
    const rowMark = sink.pos;
    const dst = room(st, rowMark, p);
    let o = rowMark;
    if (!first) dst[o++] = 0x2c;
    dst[o++] = 0x7b;
    if (before !== undefined) {
      o = putBytes(dst, o, BEFORE);
      sink.pos = o;
      p = writeImage(st, p, cols, before, nBefore);
      if (p < 0) return false;
    } else sink.pos = o;
    if (after !== undefined) {
      // `"after":` without the comma when it is the only image
      sink.pos = putBytes(sink.buf, sink.pos, before === undefined ? AFTER_ONLY : AFTER);
      p = writeImage(st, p, cols, after, nAfter);
      if (p < 0) return false;
    }
    if (p === rowStart) {
      // an image of zero columns: the decoder stops here
      sink.rewind(rowMark);
      break;
    }
    sink.buf[sink.pos++] = 0x7d;
    first = false;
  }
  sink.reserve(2);
  sink.buf[sink.pos++] = 0x5d;
  sink.buf[sink.pos++] = 0x7d;
  return true;
}
