import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32 } from "node:zlib";
import { BinlogEventDecoder } from "../../../src/codecs/binlog/decoder.ts";
import { nextBinlogFileName } from "../../../src/codecs/binlog/events/rotate.ts";
import { BinlogFramer } from "../../../src/codecs/binlog/framer.ts";
import { EventType } from "../../../src/codecs/binlog/types.ts";
import { SluiceError } from "../../../src/core/errors.ts";
import { decodeChunks, fixture } from "./helpers.ts";

function event(
  type: number,
  body: Buffer,
  opts: { crc?: boolean; logPos?: number; flags?: number } = {},
): Buffer {
  const crc = opts.crc ?? true;
  const ev = Buffer.alloc(19 + body.length + (crc ? 4 : 0));
  ev.writeUInt32LE(1700000000, 0);
  ev[4] = type;
  ev.writeUInt32LE(1, 5);
  ev.writeUInt32LE(ev.length, 9);
  ev.writeUInt32LE(opts.logPos ?? 0, 13);
  ev.writeUInt16LE(opts.flags ?? 0, 17);
  body.copy(ev, 19);
  if (crc) ev.writeUInt32LE(crc32(ev.subarray(0, ev.length - 4)), ev.length - 4);
  return ev;
}

function rotateBody(pos: bigint, name: string): Buffer {
  const b = Buffer.alloc(8 + name.length);
  b.writeBigUInt64LE(pos, 0);
  b.write(name, 8, "latin1");
  return b;
}

test("next binlog file name: same width, +1, wraps", () => {
  assert.equal(nextBinlogFileName("mariadb-bin.000044"), "mariadb-bin.000045");
  assert.equal(nextBinlogFileName("mariadb-bin.000099"), "mariadb-bin.000100");
  assert.equal(nextBinlogFileName("mariadb-bin.999999"), "mariadb-bin.1000000");
  assert.equal(nextBinlogFileName("binlog.1234567"), "binlog.1234568");
  assert.equal(nextBinlogFileName("noext"), undefined);
});

test("a stream may start without a format description: v4 defaults, the fake ROTATE's CRC is noticed", () => {
  const d = new BinlogEventDecoder();
  const rot = d.decode(event(EventType.ROTATE, rotateBody(4n, "mysql-bin.000044"), { flags: 0x20 }), {
    file: "",
    offset: 0,
  });
  assert.equal(rot.type, "rotate");
  if (rot.type !== "rotate") return;
  assert.equal(rot.nextFile, "mysql-bin.000044"); // the CRC was not taken for part of the name
  assert.equal(d.currentFile, "mysql-bin.000044");
  const noCrc = new BinlogEventDecoder().decode(
    event(EventType.ROTATE, rotateBody(4n, "x.000001"), { crc: false }),
    {
      file: "",
      offset: 0,
    },
  );
  assert.equal(noCrc.type === "rotate" && noCrc.nextFile, "x.000001");
});

test("a checksum mismatch is BINLOG_CHECKSUM naming file and offset; --no-verify-checksum reads on", () => {
  const fde = new BinlogFramer("mariadb-bin.000001").push(fixture("mariadb-bin.000001"));
  const victim = Buffer.from(fde[3]!.bytes);
  victim[25] = victim[25]! ^ 0xff;
  const d = new BinlogEventDecoder();
  d.decode(fde[0]!.bytes, { file: "mariadb-bin.000001", offset: 4 });
  assert.throws(
    () => d.decode(victim, { file: "mariadb-bin.000001", offset: fde[3]!.offset }),
    (e: unknown) =>
      e instanceof SluiceError &&
      e.code === "BINLOG_CHECKSUM" &&
      e.context.file === "mariadb-bin.000001" &&
      e.context.offset === 330,
  );
  const lax = new BinlogEventDecoder({ verifyChecksum: false });
  lax.decode(fde[0]!.bytes, { file: "mariadb-bin.000001", offset: 4 });
  assert.equal(lax.decode(victim, { file: "mariadb-bin.000001", offset: 330 }).type, "mariadb_gtid");
});

test("not a binlog: bad magic, empty file", async () => {
  const r = await decodeChunks([Buffer.from("hello world, not a binlog")], "x.000001");
  assert.ok(r.error instanceof SluiceError && r.error.code === "BINLOG_NOT_A_BINLOG");
  const e = await decodeChunks([], "x.000001");
  assert.ok(e.error instanceof SluiceError && e.error.code === "BINLOG_NOT_A_BINLOG");
});

test("an absurd event size is damage, not a 4 GiB allocation", async () => {
  const bytes = Buffer.from(fixture("mariadb-bin.000001"));
  bytes.writeUInt32LE(0xfffffff0, 256 + 9);
  const r = await decodeChunks([bytes.subarray(0, 300), bytes.subarray(300)], "mariadb-bin.000001");
  assert.ok(r.error instanceof SluiceError);
  assert.equal(r.error.code, "BINLOG_BAD_EVENT");
  assert.equal(r.error.context.offset, 256);
  assert.equal(r.events.length, 1);
});

test("START_ENCRYPTION: the event is passed on, then a clear BINLOG_ENCRYPTED error", async () => {
  const events = new BinlogFramer("mariadb-bin.000001").push(fixture("mariadb-bin.000001"));
  const fde = events[0]!.bytes;
  const body = Buffer.alloc(17);
  body[0] = 1;
  body.writeUInt32LE(7, 1);
  const enc = event(EventType.MARIADB_START_ENCRYPTION, body);
  const garbage = Buffer.alloc(64, 0xab);
  const r = await decodeChunks(
    [Buffer.from([0xfe, 0x62, 0x69, 0x6e]), fde, enc, garbage],
    "mariadb-bin.000001",
  );
  assert.deepEqual(
    r.events.map((e) => e.type),
    ["format_description", "mariadb_start_encryption"],
  );
  assert.ok(r.error instanceof SluiceError);
  assert.equal(r.error.code, "BINLOG_ENCRYPTED");
  assert.equal(r.error.context.offset, 4 + fde.length + enc.length);
  assert.match(r.error.message, /encrypted/);
});

test("MariaDB GTID with commit id, standalone DDL, XA", () => {
  const d = new BinlogEventDecoder({ flavor: "mariadb", checksum: 0 });
  const gc = Buffer.alloc(8 + 4 + 1 + 8 + 1);
  gc.writeBigUInt64LE(7140n, 0);
  gc.writeUInt32LE(2, 8);
  gc[12] = 2 | 4 | 8; // group commit id, transactional, allow parallel
  gc.writeBigUInt64LE(99n, 13);
  const ev = d.decode(event(EventType.MARIADB_GTID, gc, { crc: false }), { file: "b.000001", offset: 100 });
  assert.equal(ev.type, "mariadb_gtid");
  if (ev.type !== "mariadb_gtid") return;
  assert.equal(ev.gtid, "2-1-7140");
  assert.equal(ev.commitId, 99n);
  const xa = Buffer.alloc(8 + 4 + 1 + 4 + 2 + 5);
  xa.writeBigUInt64LE(8n, 0);
  xa[12] = 64;
  xa.writeUInt32LE(1, 13);
  xa[17] = 3;
  xa[18] = 2;
  xa.write("abcde", 19, "latin1");
  const x = d.decode(event(EventType.MARIADB_GTID, xa, { crc: false }), { file: "b.000001", offset: 200 });
  assert.ok(x.type === "mariadb_gtid" && x.xa?.gtrid === "abc" && x.xa.bqual === "de");
});

test("heartbeats (v1 and v2), XA prepare, rows query", () => {
  const d = new BinlogEventDecoder({ checksum: 0 });
  const at = { file: "binlog.000007", offset: 0 };
  const hb = d.decode(
    event(EventType.HEARTBEAT, Buffer.from("binlog.000007"), { crc: false, logPos: 1234 }),
    at,
  );
  assert.ok(hb.type === "heartbeat" && hb.binlogFile === "binlog.000007" && hb.header.logPos === 1234);
  // v2: type 1 (file name), type 2 (position as packed int), type 0 end
  const v2body = Buffer.concat([
    Buffer.from([1, 13]),
    Buffer.from("binlog.000007"),
    Buffer.from([2, 4, 0xfd, 0x40, 0x42, 0x0f]),
    Buffer.from([0]),
  ]);
  const hb2 = d.decode(event(EventType.HEARTBEAT_V2, v2body, { crc: false }), at);
  assert.ok(hb2.type === "heartbeat_v2");
  assert.equal(hb2.type === "heartbeat_v2" && hb2.binlogPosition, 1000000);
  const xa = Buffer.alloc(1 + 4 + 4 + 4 + 5);
  xa[0] = 0;
  xa.writeUInt32LE(1, 1);
  xa.writeUInt32LE(3, 5);
  xa.writeUInt32LE(2, 9);
  xa.write("gtrbq", 13, "latin1");
  const x = d.decode(event(EventType.XA_PREPARE, xa, { crc: false }), at);
  assert.ok(x.type === "xa_prepare" && x.gtrid === "gtr" && x.bqual === "bq" && !x.onePhase);
  const rq = d.decode(event(EventType.ROWS_QUERY, Buffer.from("\x05hello"), { crc: false }), at);
  assert.ok(rq.type === "rows_query" && rq.query === "hello");
});

test("query status variables: known ones decoded, an unknown code stops their parsing safely", () => {
  const d = new BinlogEventDecoder({ checksum: 0 });
  const status = Buffer.concat([
    Buffer.from([0]), // Q_FLAGS2
    Buffer.from([0, 0, 0, 0]),
    Buffer.from([5, 6]), // Q_TIME_ZONE
    Buffer.from("+00:00"),
    Buffer.from([0x83, 1, 45, 0, 224, 0]), // MariaDB 11.5 writes Q_CHARACTER_SET_COLLATIONS before Q_CHARSET
    Buffer.from([4, 33, 0, 8, 0, 45, 0]), // Q_CHARSET
    Buffer.from([0x77, 1, 2, 3]), // unknown code 0x77, then bytes whose meaning is unknown
  ]);
  const post = Buffer.alloc(13);
  post.writeUInt32LE(42, 0);
  post.writeUInt32LE(1, 4);
  post[8] = 2; // db_len
  post.writeUInt16LE(0, 9);
  post.writeUInt16LE(status.length, 11);
  const body = Buffer.concat([post, status, Buffer.from("db\0"), Buffer.from("SELECT 1")]);
  const q = d.decode(event(EventType.QUERY, body, { crc: false }), { file: "b.000001", offset: 4 });
  assert.ok(q.type === "query");
  if (q.type !== "query") return;
  assert.equal(q.threadId, 42);
  assert.equal(q.database, "db");
  assert.equal(q.query, "SELECT 1");
  assert.equal(q.status.timeZone, "+00:00");
  assert.equal(q.status.charsetClient, 33);
  assert.equal(q.status.collationServer, 45);
  assert.deepEqual(q.status.characterSetCollations, [[45, 224]]);
  assert.equal(q.status.unknownCode, 0x77);
});
