import { formatMysqlGtid, formatUuid, GtidSet } from "../gtid.ts";
import type { ByteReader } from "../reader.ts";
import { readVarlenInt, readVarlenNumber, readVarlenUint } from "../serialization.ts";

/**
 * MySQL GTID_LOG_EVENT (33) and ANONYMOUS_GTID_LOG_EVENT (34):
 *   flags u8 | sid 16 bytes | gno i64
 *   | [5.7.4+] lt_type u8 (=2) | last_committed i64 | sequence_number i64
 *   | [8.0.1+] immediate_commit_timestamp u56 (bit 55 set: original_commit_timestamp u56 follows)
 *   | [8.0.2+] transaction_length packed int
 *   | [8.0.14+] immediate_server_version u32 (bit 31 set: original_server_version u32 follows)
 *   | [8.0.27+] commit_group_ticket u64
 * GTID_TAGGED_LOG_EVENT (42, MySQL 8.3+) carries the same fields in the serialization library format:
 *   version u8 (=2?) | payload_size varlen | last_non_ignorable_field_id varlen
 *   | { field_id varlen | value }*  with ids 0 flags, 1 sid (16 varlen bytes), 2 gno (zig-zag),
 *   3 tag (varlen length + bytes), 4 last_committed, 5 sequence_number (zig-zag),
 *   6 immediate_commit_timestamp, 7 original_commit_timestamp, 8 transaction_length,
 *   9 immediate_server_version, 10 original_server_version, 11 commit_group_ticket.
 * Timestamps are microseconds since the epoch.
 */
export interface MysqlGtidData {
  type: "gtid" | "anonymous_gtid" | "gtid_tagged_log";
  flags: number;
  uuid: string;
  gno: bigint;
  tag?: string;
  lastCommitted?: bigint;
  sequenceNumber?: bigint;
  immediateCommitTimestamp?: bigint;
  originalCommitTimestamp?: bigint;
  transactionLength?: bigint;
  immediateServerVersion?: number;
  originalServerVersion?: number;
  commitGroupTicket?: bigint;
}

/** `uuid:gno` / `uuid:tag:gno`; undefined for anonymous transactions. */
export function mysqlGtidText(d: MysqlGtidData): string | undefined {
  return d.type === "anonymous_gtid" ? undefined : formatMysqlGtid(d.uuid, d.gno, d.tag);
}

const U55 = 1n << 55n;

export function decodeMysqlGtid(r: ByteReader, type: "gtid" | "anonymous_gtid"): MysqlGtidData {
  const flags = r.u8("gtid flags");
  const uuid = formatUuid(r.bytes(16, "gtid sid"));
  const gno = r.i64("gtid gno");
  const d: MysqlGtidData = { type, flags, uuid, gno };
  if (r.remaining > 0 && r.buf[r.pos] === 2) {
    r.u8("logical clock type");
    d.lastCommitted = r.i64("last_committed");
    d.sequenceNumber = r.i64("sequence_number");
    if (r.remaining >= 7) {
      const imm = BigInt(r.u56("immediate_commit_timestamp"));
      if (imm & U55) {
        d.immediateCommitTimestamp = imm & ~U55;
        d.originalCommitTimestamp = BigInt(r.u56("original_commit_timestamp"));
      } else {
        d.immediateCommitTimestamp = imm;
        d.originalCommitTimestamp = imm;
      }
      if (r.remaining > 0) {
        const len = r.lenencInt("transaction_length");
        d.transactionLength = len === null ? 0n : BigInt(len);
      }
      if (r.remaining >= 4) {
        const v = r.u32("immediate_server_version");
        if (v & 0x80000000) {
          d.immediateServerVersion = v & 0x7fffffff;
          d.originalServerVersion = r.u32("original_server_version");
        } else {
          d.immediateServerVersion = v;
          d.originalServerVersion = v;
        }
      }
      if (r.remaining >= 8) d.commitGroupTicket = r.u64("commit_group_ticket");
    }
  }
  r.rest();
  return d;
}

export function decodeMysqlTaggedGtid(r: ByteReader): MysqlGtidData {
  r.u8("serialization version");
  const payloadStart = r.pos - 1;
  const payloadSize = readVarlenNumber(r, "payload_size");
  readVarlenUint(r, "last_non_ignorable_field_id");
  const fieldsEnd = payloadStart + payloadSize;
  r.need(fieldsEnd - r.pos, "tagged gtid fields");
  const f = r.sub(fieldsEnd - r.pos, "tagged gtid fields");
  const d: MysqlGtidData = { type: "gtid_tagged_log", flags: 0, uuid: "", gno: 0n };
  let sawOriginalTs = false;
  let sawOriginalVersion = false;
  while (f.remaining > 0) {
    const id = readVarlenNumber(f, "field id");
    switch (id) {
      case 0:
        d.flags = readVarlenNumber(f, "gtid flags");
        break;
      case 1: {
        const b = Buffer.alloc(16);
        for (let i = 0; i < 16; i++) b[i] = readVarlenNumber(f, "sid byte") & 0xff;
        d.uuid = formatUuid(b);
        break;
      }
      case 2:
        d.gno = readVarlenInt(f, "gno");
        break;
      case 3: {
        const n = readVarlenNumber(f, "tag length");
        d.tag = f.string(n, "tag");
        break;
      }
      case 4:
        d.lastCommitted = readVarlenInt(f, "last_committed");
        break;
      case 5:
        d.sequenceNumber = readVarlenInt(f, "sequence_number");
        break;
      case 6:
        d.immediateCommitTimestamp = readVarlenUint(f, "immediate_commit_timestamp");
        break;
      case 7:
        d.originalCommitTimestamp = readVarlenUint(f, "original_commit_timestamp");
        sawOriginalTs = true;
        break;
      case 8:
        d.transactionLength = readVarlenUint(f, "transaction_length");
        break;
      case 9:
        d.immediateServerVersion = readVarlenNumber(f, "immediate_server_version");
        break;
      case 10:
        d.originalServerVersion = readVarlenNumber(f, "original_server_version");
        sawOriginalVersion = true;
        break;
      case 11:
        d.commitGroupTicket = readVarlenUint(f, "commit_group_ticket");
        break;
      default:
        // Unknown field: its size is not knowable, so stop (the known fields come first).
        f.rest();
    }
  }
  if (!sawOriginalTs && d.immediateCommitTimestamp !== undefined)
    d.originalCommitTimestamp = d.immediateCommitTimestamp;
  if (!sawOriginalVersion && d.immediateServerVersion !== undefined)
    d.originalServerVersion = d.immediateServerVersion;
  r.rest();
  return d;
}

/**
 * PREVIOUS_GTIDS_LOG_EVENT (35): the GTID set executed before this file.
 *   n_sids u64 (tagged format, 8.3+: byte 7 = format 1, bytes 1..6 = n_sids, byte 0 = format)
 *   | n_sids x (uuid 16 bytes | [tagged: tag varlen length + bytes] | n_intervals u64
 *     | n_intervals x (start i64 | end i64, exclusive))
 */
export interface PreviousGtidsData {
  type: "previous_gtids";
  gtidSet: GtidSet;
  /** The set in MySQL's notation. */
  gtids: string;
}

export function decodePreviousGtids(r: ByteReader): PreviousGtidsData {
  const head = r.u64("n_sids");
  const tagged = head >> 56n !== 0n;
  const nSids = tagged ? (head >> 8n) & ((1n << 48n) - 1n) : head & ((1n << 56n) - 1n);
  const set = new GtidSet();
  // Each sid takes at least 24 bytes: a count beyond what the event holds is damage, not a long loop.
  r.need(Number(nSids < 1000000n ? nSids : 1000000n) * 24, "previous gtids sids");
  for (let i = 0n; i < nSids; i++) {
    const uuid = formatUuid(r.bytes(16, "sid"));
    let tag: string | undefined;
    if (tagged) {
      const n = readVarlenNumber(r, "tag length");
      if (n > 0) tag = r.string(n, "tag");
    }
    const nIntervals = r.u64("n_intervals");
    r.need(Number(nIntervals < 1000000n ? nIntervals : 1000000n) * 16, "gtid intervals");
    for (let j = 0n; j < nIntervals; j++) {
      const start = r.i64("interval start");
      const end = r.i64("interval end");
      if (end > start) set.addInterval(uuid, start, end - 1n, tag);
    }
  }
  return { type: "previous_gtids", gtidSet: set, gtids: set.toString() };
}
