/**
 * JSON lines of binlog events written into a byte buffer: rows events straight from their row bytes
 * (rows.ts), every other event through eventToJsonLine. The bytes are exactly those of
 * `JSON.stringify(eventToJson(ev))` + "\n" in UTF-8. Pure: no I/O.
 *
 * Rows events are transcoded from their bytes only when the decoder left them undecoded: give the
 * decoder `deferredRowsCodec` (or any RowsCodec with openRowsEvent). Events decoded the usual way
 * take the string path.
 */
import { deferredRowsFrame, deferredText, type RowsCodec } from "../decoder.ts";
import type { BinlogEvent } from "../events.ts";
import { eventToJsonLine, tableMapFields } from "../jsonl-writer.ts";
import { eventToJson } from "../output.ts";
import { decodeRowsEvent, openRowsEvent } from "../rows/rows-event.ts";
import { decodeTableMapEvent } from "../rows/table-map.ts";
import type { ColumnDef, TableMapEvent } from "../rows/types.ts";
import type { FormatContext } from "../types.ts";
import { envelope } from "./envelope.ts";
import { putAscii, putBytes, putInt } from "./put.ts";
import { writeRowsEventJson } from "./rows.ts";
import { JsonlSink } from "./sink.ts";
import { TextMode, warmUpText, wordSource, writeText } from "./text.ts";

export { JsonlSink } from "./sink.ts";

warmUpText(new JsonlSink(4096));

const MAP_CACHE_SIZE = 1024;
const tableMaps = new WeakMap<FormatContext, Map<string, TableMapEvent>>();

/**
 * A server writes the same TABLE_MAP before every statement on a table: one decoded with the same
 * bytes in the same format is reused (a copy with its own position, sharing the columns), and so is
 * everything a writer derives from its columns.
 */
function cachedTableMap(
  body: Buffer,
  ctx: FormatContext,
  where: { file: string; offset: number },
): TableMapEvent {
  let cache = tableMaps.get(ctx);
  if (cache === undefined) {
    cache = new Map();
    tableMaps.set(ctx, cache);
  }
  const key = body.toString("latin1");
  const hit = cache.get(key);
  if (hit !== undefined) return { ...hit, position: { file: where.file, offset: where.offset } };
  const map = decodeTableMapEvent(body, ctx, where);
  if (cache.size >= MAP_CACHE_SIZE) cache.clear();
  cache.set(key, map);
  return map;
}

/**
 * The row layer with rows decoded only when read (see RowsCodec.openRowsEvent), and table maps of
 * identical bytes sharing their columns (nothing may change them: no column-name source).
 */
export const deferredRowsCodec: RowsCodec = {
  decodeTableMapEvent: cachedTableMap,
  decodeRowsEvent,
  openRowsEvent,
};

/** Keys that an object lists first, whatever their place (array-index-like names). */
const INDEX_LIKE = /^(?:0|[1-9][0-9]*)$/;

/** `"key":` of the keys seen so far; null for index-like keys. */
const keyBytes = new Map<string, Buffer | null>();
function keyOf(k: string): Buffer | null {
  let b = keyBytes.get(k);
  if (b === undefined) {
    b = INDEX_LIKE.test(k) ? null : Buffer.from(`${JSON.stringify(k)}:`);
    if (keyBytes.size < 4096) keyBytes.set(k, b);
  }
  return b;
}

/** Table maps' fields after the envelope, by their columns (table maps of the same bytes share them). */
const tableMapTails = new WeakMap<ColumnDef[], string>();
function tableMapTail(t: TableMapEvent): string {
  let s = tableMapTails.get(t.columns);
  if (s === undefined) {
    s = tableMapFields(t);
    tableMapTails.set(t.columns, s);
  }
  return s;
}

/**
 * The output-contract object of an event other than a table map or rows event, written as
 * JSON.stringify writes it: its strings (a statement can be large) go straight into the sink, and
 * nested values through JSON.stringify. False, with nothing written, when it has a key an object
 * would move.
 */
function writeObject(obj: Record<string, unknown>, sink: JsonlSink): boolean {
  const keys = Object.keys(obj);
  for (const k of keys) if (keyOf(k) === null) return false;
  let sep = 0x7b;
  for (const k of keys) {
    const v = obj[k];
    let text: string | undefined;
    switch (typeof v) {
      case "string":
        break;
      case "number":
        text = Number.isFinite(v) ? String(v) : "null";
        break;
      case "boolean":
        text = v ? "true" : "false";
        break;
      case "undefined":
      case "function":
      case "symbol":
        continue;
      default:
        text = JSON.stringify(v);
        if (text === undefined) continue;
    }
    sink.byte(sep);
    sep = 0x2c;
    sink.bytes(keyOf(k)!);
    if (text === undefined) sink.jsonString(v as string);
    else sink.string(text);
  }
  if (sep === 0x7b) sink.byte(sep);
  sink.byte(0x7d);
  return true;
}

/** Fields eventToJson writes in the envelope (or not at all), and keys it would place elsewhere. */
const NOT_OWN = new Set(["type", "header", "position", "gtid", "events", "gtidSet"]);
const MOVED = new Set(["timestamp", "serverId", "__proto__"]);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The line of an event whose own fields are all integers (within ±2^53, bigints too) or booleans,
 * as most events besides rows and statements are (XID, GTID, INTVAR...): the envelope, then the
 * fields in their order, with no object built. False, with nothing written, for any other field.
 */
function writeScalarEvent(ev: BinlogEvent, sink: JsonlSink): boolean {
  const mark = sink.pos;
  envelope(ev, sink);
  const fields = ev as unknown as Record<string, unknown>;
  for (const k of Object.keys(ev)) {
    if (NOT_OWN.has(k)) continue;
    const v = fields[k];
    if (v === undefined) continue;
    const key = keyOf(k);
    if (key === null || MOVED.has(k)) {
      sink.rewind(mark);
      return false;
    }
    sink.reserve(key.length + 24);
    const dst = sink.buf;
    let o = sink.pos;
    dst[o++] = 0x2c;
    o = putBytes(dst, o, key);
    if (typeof v === "number" && Number.isSafeInteger(v)) o = putInt(dst, o, v);
    else if (typeof v === "bigint" && v <= MAX_SAFE_BIG && v >= -MAX_SAFE_BIG) o = putInt(dst, o, Number(v));
    else if (v === true) o = putAscii(dst, o, "true");
    else if (v === false) o = putAscii(dst, o, "false");
    else {
      sink.rewind(mark);
      return false;
    }
    sink.pos = o;
  }
  sink.byte(0x7d);
  return true;
}

const QUERY = Buffer.from(',"query":');

/**
 * The line of an annotated statement whose text is still bytes: the envelope, then the text copied
 * with its escapes; false, with nothing written, when the bytes are not well-formed UTF-8 (the
 * decoder's replacement characters are left to the reference path).
 */
function writeAnnotate(ev: BinlogEvent, text: Buffer, sink: JsonlSink): boolean {
  const mark = sink.pos;
  envelope(ev, sink);
  sink.reserve(QUERY.length + 6 * text.length + 3);
  sink.pos = putBytes(sink.buf, sink.pos, QUERY);
  const end = writeText(sink, sink.pos, text, wordSource(text), 0, text.length, TextMode.UTF8);
  if (end < 0) {
    sink.rewind(mark);
    return false;
  }
  sink.buf[end] = 0x7d;
  sink.pos = end + 1;
  return true;
}

/** Appends the JSON line of `ev` and its newline to `sink`. */
export function writeJsonLine(ev: BinlogEvent, sink: JsonlSink): void {
  const rows = "rows" in ev ? ev.rows : undefined;
  const frame = rows === undefined ? undefined : deferredRowsFrame(rows);
  const text = frame === undefined ? deferredText(ev) : undefined;
  if (text !== undefined && writeAnnotate(ev, text, sink)) {
    // written from its bytes
  } else if (frame !== undefined) {
    if (!writeRowsEventJson(ev, frame, sink)) sink.string(eventToJsonLine(ev));
  } else if (ev.type === "table_map" && ev.tableMap !== undefined) {
    envelope(ev, sink);
    sink.string(tableMapTail(ev.tableMap));
  } else if (rows !== undefined || ev.type === "table_map") {
    sink.string(eventToJsonLine(ev));
  } else if (!writeScalarEvent(ev, sink)) {
    const mark = sink.pos;
    if (!writeObject(eventToJson(ev), sink)) {
      sink.rewind(mark);
      sink.string(JSON.stringify(eventToJson(ev)));
    }
  }
  sink.byte(0x0a);
}

/** Appends the JSON lines of `events` to `sink`. */
export function writeJsonLines(events: readonly BinlogEvent[], sink: JsonlSink): void {
  for (const ev of events) writeJsonLine(ev, sink);
}
