import type { ByteReader } from "../reader.ts";

/**
 * HEARTBEAT_LOG_EVENT (27): sent by a server with nothing new to send; never stored in files.
 *   body: current binlog file name (to the end); the header's log_pos is the position.
 * HEARTBEAT_LOG_EVENT_V2 (41, MySQL 8.0.26+): fields `type packed-int | length packed-int | value`
 *   until type 0: 1 = file name, 2 = position (packed int).
 */
export interface HeartbeatData {
  type: "heartbeat" | "heartbeat_v2";
  binlogFile: string;
  binlogPosition?: number | bigint;
}

export function decodeHeartbeat(r: ByteReader): HeartbeatData {
  return { type: "heartbeat", binlogFile: r.rest().toString("utf8") };
}

export function decodeHeartbeatV2(r: ByteReader): HeartbeatData {
  const d: HeartbeatData = { type: "heartbeat_v2", binlogFile: "" };
  while (r.remaining > 0) {
    const t = r.lenencLength("heartbeat field type");
    if (t === 0) break;
    const len = r.lenencLength("heartbeat field length");
    const v = r.sub(len, "heartbeat field");
    if (t === 1) d.binlogFile = v.rest().toString("utf8");
    else if (t === 2) d.binlogPosition = v.lenencInt("heartbeat position") ?? 0;
  }
  r.rest();
  return d;
}
