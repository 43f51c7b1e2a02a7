import type { GtidSet } from "../../codecs/binlog/gtid.ts";
import { SluiceError } from "../../core/errors.ts";

/**
 * The replica's commands (pure encoders of command payloads, without the packet header).
 */
export const Command = {
  QUIT: 0x01,
  QUERY: 0x03,
  BINLOG_DUMP: 0x12,
  REGISTER_SLAVE: 0x15,
  BINLOG_DUMP_GTID: 0x1e,
} as const;

/** COM_BINLOG_DUMP flags. */
export const BinlogDumpFlag = {
  /** The server answers EOF at the end of the binlog instead of waiting for more. */
  NON_BLOCK: 0x01,
  /** MariaDB: send ANNOTATE_ROWS events. */
  SEND_ANNOTATE_ROWS: 0x02,
  /** MySQL COM_BINLOG_DUMP_GTID: the GTID set below is present. */
  THROUGH_GTID: 0x04,
} as const;

export function encodeQuery(sql: string): Buffer {
  return Buffer.concat([Buffer.from([Command.QUERY]), Buffer.from(sql, "utf8")]);
}

function shortString(s: string): Buffer {
  const b = Buffer.from(s, "utf8").subarray(0, 255);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/**
 * COM_REGISTER_SLAVE: int<1> 0x15 | int<4> server_id | string<1-len> hostname | string<1-len> user |
 * string<1-len> password | int<2> port | int<4> replication_rank | int<4> master_id
 */
export function encodeRegisterSlave(r: { serverId: number; hostname?: string; port?: number }): Buffer {
  const head = Buffer.alloc(5);
  head[0] = Command.REGISTER_SLAVE;
  head.writeUInt32LE(r.serverId >>> 0, 1);
  const tail = Buffer.alloc(10);
  tail.writeUInt16LE(r.port ?? 0, 0);
  return Buffer.concat([head, shortString(r.hostname ?? ""), shortString(""), shortString(""), tail]);
}

/** COM_BINLOG_DUMP: int<1> 0x12 | int<4> position | int<2> flags | int<4> server_id | string<EOF> file */
export function encodeBinlogDump(d: {
  position: number;
  flags: number;
  serverId: number;
  file: string;
}): Buffer {
  const head = Buffer.alloc(11);
  head[0] = Command.BINLOG_DUMP;
  head.writeUInt32LE(d.position >>> 0, 1);
  head.writeUInt16LE(d.flags, 5);
  head.writeUInt32LE(d.serverId >>> 0, 7);
  return Buffer.concat([head, Buffer.from(d.file, "utf8")]);
}

/**
 * The GTID set in COM_BINLOG_DUMP_GTID (Gtid_set::encode):
 *   int<8> n_sids | per sid: byte[16] uuid, int<8> n_intervals, per interval: int<8> start, int<8> end (exclusive)
 */
export function encodeMysqlGtidSet(gtids: GtidSet): Buffer {
  const set = gtids.entries().map((e) => {
    if (e.tag !== undefined) {
      throw new SluiceError("USAGE_BINLOG_POSITION", `tagged GTIDs (${e.uuid}:${e.tag}) cannot be sent yet`, {
        hint: "start from an untagged GTID set or a file:offset",
      });
    }
    // The wire format's interval ends are exclusive.
    return { uuid: e.uuid, intervals: e.intervals.map((i) => ({ start: i.start, end: i.end + 1n })) };
  });
  const size = 8 + set.reduce((n, e) => n + 16 + 8 + 16 * e.intervals.length, 0);
  const b = Buffer.alloc(size);
  let p = 0;
  b.writeBigUInt64LE(BigInt(set.length), p);
  p += 8;
  for (const e of set) {
    Buffer.from(e.uuid.replace(/-/g, ""), "hex").copy(b, p);
    p += 16;
    b.writeBigUInt64LE(BigInt(e.intervals.length), p);
    p += 8;
    for (const i of e.intervals) {
      b.writeBigUInt64LE(i.start, p);
      b.writeBigUInt64LE(i.end, p + 8);
      p += 16;
    }
  }
  return b;
}

/**
 * COM_BINLOG_DUMP_GTID (MySQL):
 *   int<1> 0x1e | int<2> flags | int<4> server_id | int<4> file name length | string file name |
 *   int<8> position | if flags & THROUGH_GTID: int<4> data length, byte[] GTID set
 */
export function encodeBinlogDumpGtid(d: {
  flags: number;
  serverId: number;
  file: string;
  position: number;
  gtidSet: GtidSet;
}): Buffer {
  const name = Buffer.from(d.file, "utf8");
  const data = encodeMysqlGtidSet(d.gtidSet);
  const flags = d.flags | BinlogDumpFlag.THROUGH_GTID;
  const b = Buffer.alloc(1 + 2 + 4 + 4 + name.length + 8 + 4 + data.length);
  let p = 0;
  b[p++] = Command.BINLOG_DUMP_GTID;
  b.writeUInt16LE(flags, p);
  p += 2;
  b.writeUInt32LE(d.serverId >>> 0, p);
  p += 4;
  b.writeUInt32LE(name.length, p);
  p += 4;
  name.copy(b, p);
  p += name.length;
  b.writeBigUInt64LE(BigInt(d.position), p);
  p += 8;
  b.writeUInt32LE(data.length, p);
  p += 4;
  data.copy(b, p);
  return b;
}
