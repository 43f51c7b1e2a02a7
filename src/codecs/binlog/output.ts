/**
 * The output contract of `sluice binlog read` (docs/binlog-output.md): one plain JSON object per
 * event, and a readable text form close to `mariadb-binlog -v`. Integers beyond ±2^53 become decimal
 * strings, binary strings {"base64": "..."}, GTID sets their server notation.
 */
import type { BinlogEvent, EventPosition } from "./events.ts";
import { GtidSet } from "./gtid.ts";
import { rowsEventToJson, rowsEventToText } from "./rows/index.ts";
import { eventTypeName } from "./types.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** A bigint as a JSON number when within ±2^53, else as its decimal string. */
export function bigintToJson(v: bigint): number | string {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v.toString();
}

/** Any decoded field value in its JSON form. */
export function valueToJson(v: unknown): unknown {
  if (typeof v === "bigint") return bigintToJson(v);
  if (v === null || typeof v !== "object") return v;
  if (Buffer.isBuffer(v)) return { base64: v.toString("base64") };
  if (v instanceof GtidSet) return v.toString();
  if (Array.isArray(v)) return v.map(valueToJson);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = valueToJson(x);
  return out;
}

/** Fields that are not the event's own: the envelope is written first, in a fixed order. */
const ENVELOPE = new Set(["type", "header", "position", "gtid", "events", "gtidSet"]);

function positionJson(p: EventPosition): Record<string, unknown> {
  return p.payloadOffset === undefined
    ? { file: p.file, offset: p.offset, next: p.next }
    : { file: p.file, offset: p.offset, next: p.next, payloadOffset: p.payloadOffset };
}

/** The output-contract object of one event (inner events of a transaction payload are separate lines). */
export function eventToJson(ev: BinlogEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: ev.type,
    position: positionJson(ev.position),
    timestamp: ev.header.timestamp,
    serverId: ev.header.serverId,
  };
  if (ev.gtid !== undefined) out.gtid = ev.gtid;
  if (ev.type === "table_map" && ev.tableMap) {
    const t = ev.tableMap;
    out.schema = t.schema;
    out.table = t.table;
    out.tableId = bigintToJson(t.tableId);
    out.columns = t.columns.map((c) => c.name ?? null);
    return out;
  }
  if ("rows" in ev && ev.rows !== undefined) {
    const j = rowsEventToJson(ev.rows);
    out.schema = j.schema;
    out.table = j.table;
    out.rows = j.rows;
    return out;
  }
  for (const [k, v] of Object.entries(ev)) {
    if (ENVELOPE.has(k) || v === undefined) continue;
    out[k] = valueToJson(v);
  }
  return out;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** `2024-01-02 03:04:05` in UTC. */
export function formatTimestamp(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

function detail(ev: BinlogEvent): string {
  switch (ev.type) {
    case "format_description":
      return `binlog v${ev.binlogVersion}, server ${ev.serverVersion}, checksum ${ev.checksum === 1 ? "CRC32" : ev.checksum === 0 ? "none" : "n/a"}`;
    case "rotate":
      return `to ${ev.nextFile}:${ev.nextPosition}`;
    case "query":
    case "mariadb_query_compressed":
    case "execute_load_query":
      return `thread ${ev.threadId} exec_time ${ev.execTime}${ev.errorCode ? ` error ${ev.errorCode}` : ""}${ev.database ? ` db ${ev.database}` : ""}\n${ev.query}`;
    case "xid":
      return `xid ${ev.xid}\nCOMMIT`;
    case "mariadb_gtid": {
      const words = [`GTID ${ev.gtid ?? ""}`];
      if (ev.commitId !== undefined) words.push(`cid=${ev.commitId}`);
      if (ev.flags & 4) words.push("trans");
      if (ev.flags & 32) words.push("ddl");
      if (ev.standalone) words.push("standalone");
      if (ev.xa) words.push(`xa '${ev.xa.gtrid}','${ev.xa.bqual}',${ev.xa.formatId}`);
      return ev.standalone ? words.join(" ") : `${words.join(" ")}\nSTART TRANSACTION`;
    }
    case "gtid":
    case "anonymous_gtid":
    case "gtid_tagged_log":
      return `${ev.gtid ?? "ANONYMOUS"} last_committed=${ev.lastCommitted ?? "-"} sequence_number=${ev.sequenceNumber ?? "-"}${ev.immediateCommitTimestamp !== undefined ? ` immediate_commit_timestamp=${ev.immediateCommitTimestamp}` : ""}${ev.transactionLength !== undefined ? ` transaction_length=${ev.transactionLength}` : ""}`;
    case "previous_gtids":
      return `[${ev.gtids}]`;
    case "mariadb_gtid_list":
      return `[${ev.gtids.map((g) => `${g.domainId}-${g.serverId}-${g.seqNo}`).join(",")}]`;
    case "mariadb_binlog_checkpoint":
      return ev.binlogFile;
    case "mariadb_annotate_rows":
    case "rows_query":
      return `# ${ev.query.replace(/\n/g, "\n# ")}`;
    case "mariadb_start_encryption":
      return `scheme ${ev.scheme} key version ${ev.keyVersion}: the rest of this file is encrypted`;
    case "intvar":
      return `SET ${ev.kind.toUpperCase()}=${ev.value}`;
    case "rand":
      return `SET @@RAND_SEED1=${ev.seed1}, @@RAND_SEED2=${ev.seed2}`;
    case "user_var":
      return `SET @\`${ev.name}\`=${ev.isNull ? "NULL" : Buffer.isBuffer(ev.value) ? `0x${ev.value.toString("hex")}` : String(ev.value)}`;
    case "incident":
      return `${ev.incidentName}${ev.message ? `: ${ev.message}` : ""}`;
    case "heartbeat":
    case "heartbeat_v2":
      return `${ev.binlogFile}${ev.binlogPosition !== undefined ? `:${ev.binlogPosition}` : ""}`;
    case "transaction_payload":
      return `${ev.compression} ${ev.payloadSize} -> ${ev.uncompressedSize} bytes, ${ev.eventCount} events`;
    case "xa_prepare":
      return `XA ${ev.onePhase ? "COMMIT ONE PHASE" : "PREPARE"} '${ev.gtrid}','${ev.bqual}',${ev.formatId}`;
    case "table_map":
      return ev.tableMap
        ? `\`${ev.tableMap.schema}\`.\`${ev.tableMap.table}\` mapped to number ${ev.tableMap.tableId}`
        : `(${ev.raw?.length ?? 0} bytes)`;
    case "begin_load_query":
    case "append_block":
      return `file_id ${ev.fileId} block ${ev.data.length} bytes`;
    case "delete_file":
    case "exec_load":
      return `file_id ${ev.fileId}`;
    case "transaction_context":
      return `server ${ev.serverUuid} thread ${ev.threadId}`;
    case "view_change":
      return `view ${ev.viewId} seq ${ev.seqNumber}`;
    case "start_v3":
      return `binlog v${ev.binlogVersion}, server ${ev.serverVersion}`;
    case "stop":
      return "";
    default:
      if ("rows" in ev && ev.rows !== undefined) return rowsEventToText(ev.rows);
      if ("raw" in ev && ev.raw !== undefined)
        return `type code ${ev.header.typeCode}, ${ev.raw.length} bytes${"ignorable" in ev && ev.ignorable ? " (ignorable)" : ""}`;
      return "";
  }
}

/** Readable text of one event: a `# at` line, a header line, then what the event says. */
export function eventToText(ev: BinlogEvent): string {
  const p = ev.position;
  const at = p.payloadOffset === undefined ? `${p.offset}` : `${p.offset} (+${p.payloadOffset} in payload)`;
  const name =
    ev.type === "unknown" ? `unknown (${eventTypeName[ev.header.typeCode] ?? ev.header.typeCode})` : ev.type;
  const gtid = ev.gtid !== undefined && !ev.type.includes("gtid") ? `  gtid ${ev.gtid}` : "";
  const head = `# at ${at} ${p.file}\n#${formatTimestamp(ev.header.timestamp)} server id ${ev.header.serverId}  end_log_pos ${p.next}  ${name}${gtid}`;
  const d = detail(ev);
  return d ? `${head}\n${d}` : head;
}
