/**
 * The fields every event's line starts with (type, position, timestamp, serverId, GTID), written as
 * bytes: what is the same from one event to the next (the type and file, the GTID of a transaction)
 * is encoded once. Byte for byte what eventToJson + JSON.stringify write.
 */
import type { BinlogEvent } from "../events.ts";
import { jsonString } from "../jsonl-writer.ts";
import { putBytes, putInt } from "./put.ts";
import type { JsonlSink } from "./sink.ts";

/** `{"type":T,"position":{"file":F,"offset":` by type, for the file last seen with it. */
const heads = new Map<string, { file: string; bytes: Buffer }>();
let gtidOf: string | undefined;
let gtidBytes = Buffer.alloc(0);

const NEXT = Buffer.from(',"next":');
const PAYLOAD_OFFSET = Buffer.from(',"payloadOffset":');
const TIMESTAMP = Buffer.from('},"timestamp":');
const SERVER_ID = Buffer.from(',"serverId":');

/** Bytes of the widest integer field (16 digits and a sign). */
const INT_BYTES = 17;

function head(ev: BinlogEvent): Buffer {
  const file = ev.position.file;
  let h = heads.get(ev.type);
  if (h === undefined || h.file !== file) {
    h = {
      file,
      bytes: Buffer.from(`{"type":${jsonString(ev.type)},"position":{"file":${jsonString(file)},"offset":`),
    };
    heads.set(ev.type, h);
  }
  return h.bytes;
}

function gtid(g: string): Buffer {
  if (g !== gtidOf) {
    gtidOf = g;
    gtidBytes = Buffer.from(`,"gtid":${jsonString(g)}`);
  }
  return gtidBytes;
}

/** Appends the envelope of `ev` (its line up to the event's own fields). */
export function envelope(ev: BinlogEvent, sink: JsonlSink): void {
  const p = ev.position;
  const h = ev.header;
  const exact =
    Number.isSafeInteger(p.offset) &&
    Number.isSafeInteger(p.next) &&
    Number.isSafeInteger(p.payloadOffset ?? 0) &&
    Number.isSafeInteger(h.timestamp) &&
    Number.isSafeInteger(h.serverId);
  if (!exact) {
    // not a position a binlog has: as JSON.stringify writes any number
    sink.string(
      `{"type":${jsonString(ev.type)},"position":{"file":${jsonString(p.file)},"offset":${JSON.stringify(p.offset)},"next":${JSON.stringify(p.next)}${p.payloadOffset === undefined ? "" : `,"payloadOffset":${JSON.stringify(p.payloadOffset)}`}},"timestamp":${JSON.stringify(h.timestamp)},"serverId":${JSON.stringify(h.serverId)}${ev.gtid === undefined ? "" : `,"gtid":${jsonString(ev.gtid)}`}`,
    );
    return;
  }
  const start = head(ev);
  const g = ev.gtid === undefined ? undefined : gtid(ev.gtid);
  sink.reserve(start.length + 80 + 5 * INT_BYTES + (g === undefined ? 0 : g.length));
  const dst = sink.buf;
  let o = putBytes(dst, sink.pos, start);
  o = putInt(dst, o, p.offset);
  o = putBytes(dst, o, NEXT);
  o = putInt(dst, o, p.next);
  if (p.payloadOffset !== undefined) {
    o = putBytes(dst, o, PAYLOAD_OFFSET);
    o = putInt(dst, o, p.payloadOffset);
  }
  o = putBytes(dst, o, TIMESTAMP);
  o = putInt(dst, o, h.timestamp);
  o = putBytes(dst, o, SERVER_ID);
  o = putInt(dst, o, h.serverId);
  if (g !== undefined) o = putBytes(dst, o, g);
  sink.pos = o;
}
