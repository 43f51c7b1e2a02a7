/**
 * The JSON line of one event, written straight to text: byte for byte what
 * `JSON.stringify(eventToJson(ev))` gives (docs/binlog-output.md, docs/binlog-values.md), without
 * building the intermediate objects for table maps and rows events, which are nearly all of a
 * binlog's output. Other events, and cells whose JSON form is not a plain scalar (JSON documents,
 * JSON diffs, vectors), go through the reference functions.
 */
import type { BinlogEvent } from "./events.ts";
import { eventToJson } from "./output.ts";
import {
  ABSENT,
  type CellValue,
  type ColumnDef,
  ColumnType,
  cellToJson,
  columnName,
  formatFloat32,
  type TableMapEvent,
} from "./rows/index.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/**
 * A string with none of the characters JSON.stringify escapes or checks: controls, quote, backslash,
 * surrogates (lone ones are escaped). Matching the whole string is measured 2x faster than searching
 * for one bad character.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters to find
const PLAIN = /^[^\u0000-\u001f"\\\ud800-\udfff]*$/;

/** True when JSON.stringify writes `s` as it is, between quotes. */
export function isPlainString(s: string): boolean {
  return PLAIN.test(s);
}

/** A string as JSON.stringify writes it. */
export function jsonString(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** A number as JSON.stringify writes it (NaN and infinities become null, -0 becomes 0). */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/** A bigint in the output contract: a number within ±2^53, else its decimal string. */
export function jsonBigint(v: bigint): string {
  return v <= MAX_SAFE && v >= MIN_SAFE ? v.toString() : `"${v}"`;
}

/** A name that, as a key of a plain object, would not keep its place or would not be an own key. */
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;
function unsafeKey(name: string): boolean {
  return name === "__proto__" || (INDEX_LIKE.test(name) && Number(name) < 2 ** 32 - 1);
}

/**
 * Each column's `"name":` prefix, or undefined when an object built key by key would not list the
 * columns in their order (integer-like or duplicate names, `__proto__`): such tables take the
 * reference path.
 */
const keyCache = new WeakMap<ColumnDef[], string[] | null>();
export function columnKeys(cols: ColumnDef[]): string[] | undefined {
  let keys = keyCache.get(cols);
  if (keys === undefined) {
    const names = cols.map(columnName);
    keys =
      names.some(unsafeKey) || new Set(names).size !== names.length
        ? null
        : names.map((n) => `${jsonString(n)}:`);
    keyCache.set(cols, keys);
  }
  return keys ?? undefined;
}

/**
 * One cell as JSON text; the rare kinds go through cellToJson. Undefined when the reference leaves
 * the cell out of its image (a value JSON.stringify drops): the caller then takes the reference path.
 */
export function cellJson(v: CellValue, col: ColumnDef): string | undefined {
  if (v === null) return "null";
  // JSON-typed columns: whatever the reference makes of their cells
  if (col.dataType === "json") return JSON.stringify(cellToJson(v, col));
  switch (typeof v) {
    case "string":
      return jsonString(v);
    case "number":
      return jsonNumber(col.realType === ColumnType.FLOAT ? Number(formatFloat32(v)) : v);
    case "bigint":
      return jsonBigint(v);
    default:
      break;
  }
  if (Buffer.isBuffer(v) && col.realType !== ColumnType.VECTOR) return `{"base64":"${v.toString("base64")}"}`;
  // JSON documents and diffs, vectors: the reference form of the cell (never undefined)
  return JSON.stringify(cellToJson(v, col));
}

function imageJson(values: CellValue[], cols: ColumnDef[], keys: string[]): string | undefined {
  if (values.length > cols.length) return undefined;
  let s = "{";
  let sep = "";
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === ABSENT) continue;
    const cell = cellJson(v, cols[i]!);
    if (cell === undefined) return undefined;
    s += sep + keys[i]! + cell;
    sep = ",";
  }
  return `${s}}`;
}

/** The fields every event starts with: type, position, timestamp, serverId and the GTID if known. */
function envelope(ev: BinlogEvent): string {
  const p = ev.position;
  let s = `{"type":${jsonString(ev.type)},"position":{"file":${jsonString(p.file)},"offset":${jsonNumber(p.offset)},"next":${jsonNumber(p.next)}`;
  if (p.payloadOffset !== undefined) s += `,"payloadOffset":${jsonNumber(p.payloadOffset)}`;
  s += `},"timestamp":${jsonNumber(ev.header.timestamp)},"serverId":${jsonNumber(ev.header.serverId)}`;
  if (ev.gtid !== undefined) s += `,"gtid":${jsonString(ev.gtid)}`;
  return s;
}

/** What a table map's line has after the envelope: schema, table, table id and column names. */
export function tableMapFields(t: TableMapEvent): string {
  let cols = "";
  for (let i = 0; i < t.columns.length; i++) {
    const name = t.columns[i]!.name;
    cols += (i ? "," : "") + (name === undefined ? "null" : jsonString(name));
  }
  return `,"schema":${jsonString(t.schema)},"table":${jsonString(t.table)},"tableId":${jsonBigint(t.tableId)},"columns":[${cols}]}`;
}

function fastLine(ev: BinlogEvent): string | undefined {
  if (ev.type === "table_map" && ev.tableMap) return envelope(ev) + tableMapFields(ev.tableMap);
  if ("rows" in ev && ev.rows !== undefined) {
    const r = ev.rows;
    const cols = r.table.columns;
    const keys = columnKeys(cols);
    if (keys === undefined) return undefined;
    let rows = "";
    for (let i = 0; i < r.rows.length; i++) {
      const row = r.rows[i]!;
      let s = "{";
      if (row.before) {
        const b = imageJson(row.before, cols, keys);
        if (b === undefined) return undefined;
        s += `"before":${b}`;
      }
      if (row.after) {
        const a = imageJson(row.after, cols, keys);
        if (a === undefined) return undefined;
        s += `${row.before ? "," : ""}"after":${a}`;
      }
      rows += `${i ? "," : ""}${s}}`;
    }
    return `${envelope(ev)},"schema":${jsonString(r.table.schema)},"table":${jsonString(r.table.table)},"rows":[${rows}]}`;
  }
  return undefined;
}

/** The output-contract JSON line of one event (without the newline): `JSON.stringify(eventToJson(ev))`. */
export function eventToJsonLine(ev: BinlogEvent): string {
  return fastLine(ev) ?? JSON.stringify(eventToJson(ev));
}
