import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { GtidSet, MariadbGtidPosition } from "../../../src/codecs/binlog/gtid.ts";
import { EventFlag, EventType } from "../../../src/codecs/binlog/types.ts";
import { type ResumePoint, StreamCursor } from "../../../src/sources/replication/cursor.ts";

const FILE = "mariadb-bin.000001";
const TYPE_CODES: Record<string, number> = {
  mariadb_gtid: EventType.MARIADB_GTID,
  table_map: EventType.TABLE_MAP,
  write_rows_v1: EventType.WRITE_ROWS_V1,
  xid: EventType.XID,
  query: EventType.QUERY,
  gtid: EventType.GTID,
  rotate: EventType.ROTATE,
  format_description: EventType.FORMAT_DESCRIPTION,
  mariadb_gtid_list: EventType.MARIADB_GTID_LIST,
  heartbeat: EventType.HEARTBEAT,
};

/** A decoded event as the binlog decoder would give it (only the fields the cursor reads). */
function event(
  type: string,
  offset: number,
  size: number,
  extra: Record<string, unknown> = {},
  file = FILE,
): BinlogEvent {
  const artificial = extra.artificial === true;
  return {
    type,
    header: {
      timestamp: artificial ? 0 : 1,
      typeCode: TYPE_CODES[type] ?? 0,
      serverId: 1,
      eventSize: size,
      logPos: artificial ? 0 : offset + size,
      flags: artificial ? EventFlag.ARTIFICIAL : 0,
    },
    position: { file, offset, next: offset + size },
    ...extra,
  } as unknown as BinlogEvent;
}

/** A binlog of `n` row transactions (gtid, table_map, rows..., xid) starting at offset 100. */
function binlog(rowsPerTrx: number[]): BinlogEvent[] {
  const out: BinlogEvent[] = [];
  let at = 100;
  rowsPerTrx.forEach((rows, i) => {
    const push = (type: string, size: number, extra: Record<string, unknown> = {}) => {
      out.push(event(type, at, size, extra));
      at += size;
    };
    push("mariadb_gtid", 42, { domainId: 0, seqNo: BigInt(i + 1), standalone: false, gtid: `0-1-${i + 1}` });
    push("table_map", 50);
    for (let r = 0; r < rows; r++) push("write_rows_v1", 40);
    push("xid", 31);
  });
  return out;
}

/** What a server sends for a dump from `point`: artificial rotate, format description, then the events. */
function serverReplay(log: BinlogEvent[], point: ResumePoint): BinlogEvent[] {
  let from: number;
  if (point.kind === "file") from = log.findIndex((e) => e.position.offset >= point.offset);
  else {
    const done = point.kind === "mariadb-gtid" ? (point.position.get(0)?.seqNo ?? 0n) : 0n;
    from = log.findIndex((e) => e.type === "mariadb_gtid" && (e as { seqNo: bigint }).seqNo > done);
  }
  if (from < 0) from = log.length;
  const startOffset = point.kind === "file" ? point.offset : 4;
  return [
    event("rotate", startOffset, 40, { artificial: true, nextFile: FILE, nextPosition: BigInt(startOffset) }),
    event("format_description", 0, 100, { artificial: true }),
    ...log.slice(from).map((e) => ({ ...e, position: { ...e.position } }) as BinlogEvent),
  ];
}

function key(e: BinlogEvent): string {
  return `${e.position.file}:${e.position.offset}`;
}

test("a reconnect mid-transaction delivers the rest of it once (GTID resume)", () => {
  const log = binlog([1, 2]);
  const cursor = new StreamCursor({ file: FILE, offset: 100, mariadbState: MariadbGtidPosition.parse("") });
  const seen: string[] = [];
  // First connection: everything up to the second transaction's first rows event, then the link drops.
  for (const e of log.slice(0, 7)) if (cursor.admit(e) === "deliver") seen.push(key(e));
  cursor.reconnecting();
  const point = cursor.resumePoint();
  assert.equal(point.kind, "mariadb-gtid");
  assert.equal(point.kind === "mariadb-gtid" && point.position.toString(), "0-1-1");
  for (const e of serverReplay(log, point)) if (cursor.admit(e) === "deliver") seen.push(key(e));
  assert.deepEqual(seen, log.map(key));
  assert.equal(cursor.gtidState, "0-1-2");
});

test("without a GTID state the resume point is the end of the last complete transaction", () => {
  const log = binlog([1, 1]);
  const cursor = new StreamCursor({ file: FILE, offset: 100 });
  for (const e of log.slice(0, 6)) cursor.admit(e);
  cursor.reconnecting();
  assert.deepEqual(cursor.resumePoint(), { kind: "file", file: FILE, offset: log[3]!.position.next });
});

test("fuzz: any binlog, any disconnect points: every event exactly once, in order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(60), { maxLength: 5 }),
      fc.boolean(),
      (trxs, cuts, byGtid) => {
        const log = binlog(trxs);
        const cursor = new StreamCursor({
          file: FILE,
          offset: 100,
          ...(byGtid ? { mariadbState: MariadbGtidPosition.parse("") } : {}),
        });
        const seen: string[] = [];
        let point: ResumePoint = { kind: "file", file: FILE, offset: 100 };
        const budget = [...cuts];
        for (let round = 0; round <= cuts.length; round++) {
          const sent = serverReplay(log, point);
          // This connection drops after `limit` packets (the last round runs to the end).
          const limit = round < cuts.length ? budget[round]! : Number.POSITIVE_INFINITY;
          let n = 0;
          for (const e of sent) {
            if (n++ >= limit) break;
            if (cursor.admit(e) === "deliver" && e.header.logPos !== 0) seen.push(key(e));
          }
          cursor.reconnecting();
          point = cursor.resumePoint();
        }
        assert.deepEqual(seen, log.map(key));
      },
    ),
  );
});

test("artificial events of a reconnect are not delivered again; heartbeats always are", () => {
  const log = binlog([1]);
  const cursor = new StreamCursor({ file: FILE, offset: 100 });
  for (const e of log) cursor.admit(e);
  cursor.reconnecting();
  const replay = serverReplay(log, cursor.resumePoint());
  assert.deepEqual(
    replay.map((e) => cursor.admit(e)),
    ["skip", "skip"],
  );
  const hb = event("heartbeat", 0, 40, { artificial: true, binlogFile: FILE });
  assert.equal(cursor.admit(hb), "deliver");
  assert.equal(hb.position.offset, 0);
});

test("stop at a position is exclusive and ends the stream as soon as it is reached", () => {
  const log = binlog([1, 1]);
  const stopAt = log[4]!.position.next; // end of the first transaction
  const cursor = new StreamCursor({
    file: FILE,
    offset: 100,
    stop: { kind: "position", file: FILE, offset: stopAt },
  });
  const verdicts = log.map((e) => cursor.admit(e));
  assert.deepEqual(verdicts.slice(0, 5), ["deliver", "deliver", "deliver", "deliver", "deliver"]);
  assert.ok(cursor.finished);
  assert.equal(verdicts[5], "stop");
});

test("stop at a GTID ends after that transaction's commit", () => {
  const log = binlog([1, 1, 1]);
  const cursor = new StreamCursor({
    file: FILE,
    offset: 100,
    mariadbState: MariadbGtidPosition.parse("0-1-0"),
    stop: { kind: "mariadb-gtid", position: MariadbGtidPosition.parse("0-1-2") },
  });
  let delivered = 0;
  for (const e of log) {
    if (cursor.admit(e) !== "deliver") break;
    delivered++;
    if (cursor.finished) break;
  }
  assert.equal(delivered, 8);
  const already = new StreamCursor({
    file: FILE,
    offset: 100,
    mariadbState: MariadbGtidPosition.parse("0-1-5"),
    stop: { kind: "mariadb-gtid", position: MariadbGtidPosition.parse("0-1-2") },
  });
  assert.ok(already.finished, "a stop GTID already reached at the start ends the stream at once");
});

test("a standalone DDL is a transaction of its own", () => {
  const cursor = new StreamCursor({ file: FILE, offset: 100, mariadbState: MariadbGtidPosition.parse("") });
  cursor.admit(event("mariadb_gtid", 100, 42, { domainId: 0, seqNo: 7n, standalone: true }));
  cursor.admit(event("query", 142, 80, { query: "CREATE TABLE t (a int)" }));
  assert.equal(cursor.gtidState, "0-1-7");
  assert.deepEqual(cursor.completePosition, { file: FILE, offset: 222 });
});

test("a FORMAT_DESCRIPTION at offset 4 without a ROTATE before it moves to the next file", () => {
  const cursor = new StreamCursor({ file: "mariadb-bin.000044", offset: 900 });
  const where = cursor.locate({
    timestamp: 1,
    typeCode: EventType.FORMAT_DESCRIPTION,
    serverId: 1,
    eventSize: 252,
    logPos: 256,
    flags: 0,
  });
  assert.deepEqual(where, { file: "mariadb-bin.000045", offset: 4 });
});

test("MySQL transactions: GTID, BEGIN ... XID; DDL alone; the executed set grows and can stop the stream", () => {
  const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
  const cursor = new StreamCursor({
    file: "binlog.000001",
    offset: 100,
    mysqlExecuted: GtidSet.parse(`${uuid}:1-5`),
    stop: { kind: "mysql-gtid", set: GtidSet.parse(`${uuid}:1-7`) },
  });
  const f = "binlog.000001";
  const mysqlGtid = (at: number, gno: bigint) => event("gtid", at, 79, { uuid, gno }, f);
  const trx = [
    mysqlGtid(100, 6n),
    event("query", 179, 60, { query: "BEGIN" }, f),
    event("table_map", 239, 50, {}, f),
    event("write_rows_v1", 289, 40, {}, f),
    event("xid", 329, 31, {}, f),
  ];
  for (const e of trx) assert.equal(cursor.admit(e), "deliver");
  assert.equal(cursor.executedGtids, `${uuid}:1-6`);
  assert.ok(!cursor.finished);
  assert.equal(cursor.admit(mysqlGtid(360, 7n)), "deliver");
  assert.equal(cursor.admit(event("query", 439, 70, { query: "CREATE TABLE t (a int)" }, f)), "deliver");
  assert.equal(cursor.executedGtids, `${uuid}:1-7`);
  assert.ok(cursor.finished, "the stop set is executed");
  const point = cursor.resumePoint();
  assert.equal(point.kind === "mysql-gtid" && point.set.toString(), `${uuid}:1-7`);
});

test("a MySQL stream started from a file resumes by file:offset (its GTID set would be partial)", () => {
  const cursor = new StreamCursor({ file: "binlog.000001", offset: 100 });
  cursor.admit(
    event("gtid", 100, 79, { uuid: "3e11fa47-71ca-11e1-9e33-c80aa9429562", gno: 9n }, "binlog.000001"),
  );
  cursor.admit(event("query", 179, 70, { query: "DROP TABLE t" }, "binlog.000001"));
  assert.deepEqual(cursor.resumePoint(), { kind: "file", file: "binlog.000001", offset: 249 });
});
