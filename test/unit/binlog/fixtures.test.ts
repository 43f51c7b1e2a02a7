import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BinlogEvent, EventOfType } from "../../../src/codecs/binlog/events.ts";
import { eventToJson } from "../../../src/codecs/binlog/output.ts";
import { SluiceError } from "../../../src/core/errors.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";
import { DAMAGED, FIXTURES, fixtureNames } from "./helpers.ts";

async function readAll(name: string, opts: { startPosition?: number; stopPosition?: number } = {}) {
  const events: BinlogEvent[] = [];
  let error: unknown;
  try {
    for await (const ev of readBinlogFiles({ files: [FIXTURES + name], chunkSize: 4096, ...opts }))
      events.push(ev);
  } catch (e) {
    error = e;
  }
  return { events, error };
}

function only<T extends BinlogEvent["type"]>(events: BinlogEvent[], type: T) {
  return events.filter((e) => e.type === type) as Array<EventOfType<T>>;
}

describe("every fixture decodes to the end, or ends in a clear error naming file and offset", () => {
  for (const name of fixtureNames()) {
    test(name, async () => {
      const { events, error } = await readAll(name);
      const damaged = DAMAGED[name];
      if (damaged) {
        assert.ok(error instanceof SluiceError, `expected a SluiceError, got ${String(error)}`);
        assert.equal(error.code, damaged.code);
        assert.equal(error.context.file, name);
        assert.equal(error.context.offset, damaged.offset);
      } else {
        assert.equal(
          error,
          undefined,
          `unexpected ${error instanceof SluiceError ? error.describe() : String(error)}`,
        );
        assert.ok(events.length > 0);
        assert.equal(events[0]!.type, "format_description");
      }
      // Positions advance: each top-level event starts where the one before it ended.
      let next = 4;
      for (const ev of events) {
        if (ev.position.payloadOffset !== undefined) continue;
        assert.equal(ev.position.offset, next, `${ev.type} at ${ev.position.offset}`);
        assert.ok(ev.position.next > ev.position.offset);
        next = ev.position.next;
      }
      if (!damaged) assert.equal(next, (await import("node:fs")).statSync(FIXTURES + name).size);
    });
  }
});

test("MySQL 8.4 tagged GTID: uuid:tag:gno carried onto the transaction's events, not onto ROTATE", async () => {
  const { events } = await readAll("binlog_transaction_with_GTID_TAG.000001");
  const [prev] = only(events, "previous_gtids");
  assert.equal(prev!.gtids, "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2");
  const [g] = only(events, "gtid_tagged_log");
  assert.equal(g!.gtid, "55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3");
  assert.equal(g!.tag, "mytag");
  assert.equal(g!.gno, 3n);
  assert.equal(g!.lastCommitted, 0n);
  assert.equal(g!.sequenceNumber, 1n);
  const inTrx = events.filter((e) => ["query", "table_map", "write_rows_v2", "xid"].includes(e.type));
  assert.equal(inTrx.length, 4);
  for (const e of inTrx) assert.equal(e.gtid, "55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3");
  const [rot] = only(events, "rotate");
  assert.equal(rot!.gtid, undefined);
  assert.equal(rot!.nextFile, "binlog.000005");
  assert.equal(rot!.nextPosition, 4n);
  const [xid] = only(events, "xid");
  assert.equal(xid!.xid, 40n);
});

test("previous GTIDs without tags", async () => {
  const { events } = await readAll("binlog_transaction_previous_GTID_no_tag.000001");
  assert.equal(only(events, "previous_gtids")[0]!.gtids, "b9b88c66-0755-11f1-9899-4a9da94c4d71:1-2");
});

test("MySQL 5.6 GTIDs: DDL transactions and a BEGIN..COMMIT transaction", async () => {
  const { events } = await readAll("binlog_transaction_with_GTID.000001");
  const gtids = only(events, "gtid").map((e) => e.gtid);
  const u = "006c2cf2-b1ea-11e4-9057-8c705a3d3e78";
  assert.deepEqual(gtids, [`${u}:1`, `${u}:2`, `${u}:3`]);
  const queries = only(events, "query").map((q) => [q.gtid, q.query.split(/\s/)[0]]);
  assert.deepEqual(
    queries.map((q) => q[0]),
    [`${u}:1`, `${u}:2`, `${u}:2`, `${u}:2`, `${u}:3`],
  );
  assert.equal(only(events, "stop").length, 1);
  assert.equal(only(events, "stop")[0]!.gtid, undefined);
});

test("MySQL 8.0 anonymous GTIDs: logical clock, commit timestamps, transaction length", async () => {
  const { events } = await readAll("json.binlog.000001");
  const g = only(events, "anonymous_gtid");
  assert.deepEqual(
    g.slice(0, 3).map((e) => [e.lastCommitted, e.sequenceNumber]),
    [
      [0n, 1n],
      [1n, 2n],
      [2n, 3n],
    ],
  );
  assert.equal(g[0]!.gtid, undefined);
  assert.equal(g[0]!.immediateCommitTimestamp, 1615797724673435n);
  assert.equal(g[0]!.originalCommitTimestamp, 1615797724673435n);
  assert.equal(g[0]!.immediateServerVersion, 80022);
  // transaction_length covers the GTID event up to the end of the transaction
  assert.equal(g[0]!.transactionLength, BigInt(g[1]!.position.offset - g[0]!.position.offset));
  const ddl = only(events, "query")[1]!;
  assert.match(ddl.query, /^CREATE TABLE t\(id INT PRIMARY KEY AUTO_INCREMENT,/);
  assert.equal(ddl.status.ddlXid, 45n);
  assert.equal(ddl.status.charsetClient, 255);
  assert.equal(ddl.status.sqlMode, 1168113696n);
});

test("MariaDB: GTID list, checkpoint, GTID events with flags, annotate rows, rows with names", async () => {
  const { events } = await readAll("mariadb-bin.000001");
  assert.equal(only(events, "format_description")[0]!.flavor, "mariadb");
  assert.deepEqual(only(events, "mariadb_gtid_list")[0]!.gtids, []);
  assert.equal(only(events, "mariadb_binlog_checkpoint")[0]!.binlogFile, "mariadb-bin.000001");
  const g = only(events, "mariadb_gtid");
  assert.deepEqual(
    g.map((e) => [e.gtid, e.domainId, e.seqNo, e.flags, e.standalone]),
    [
      ["0-1-1", 0, 1n, 12, false],
      ["0-1-2", 0, 2n, 12, false],
    ],
  );
  const ann = only(events, "mariadb_annotate_rows")[0]!;
  assert.equal(
    ann.query,
    `insert into outbox (topic, event_type, event) values ('foo', 'JSON', '{"foo":1}')`,
  );
  assert.equal(ann.gtid, "0-1-1");
  assert.deepEqual(
    only(events, "xid").map((x) => [x.gtid, x.xid]),
    [
      ["0-1-1", 800n],
      ["0-1-2", 820n],
    ],
  );
});

test("MySQL transaction payload: zstd inner events in order, positions inside the payload", async () => {
  const { events } = await readAll("transaction_compression.000001");
  const p = only(events, "transaction_payload")[0]!;
  assert.equal(p.compression, "zstd");
  assert.equal(p.payloadSize, 124);
  assert.equal(p.uncompressedSize, 179);
  assert.equal(p.eventCount, 4);
  const i = events.indexOf(p);
  const inner = events.slice(i + 1, i + 5);
  assert.deepEqual(
    inner.map((e) => [e.type, e.position.offset, e.position.next, e.position.payloadOffset]),
    [
      ["query", 274, 431, 0],
      ["table_map", 274, 431, 71],
      ["write_rows_v2", 274, 431, 116],
      ["xid", 274, 431, 152],
    ],
  );
  const q = inner[0] as EventOfType<"query">;
  assert.equal(q.query, "BEGIN");
  assert.equal(q.database, "test");
  const tm = inner[1] as EventOfType<"table_map">;
  assert.equal(tm.tableMap?.table, "tb1");
  assert.equal((inner[3] as EventOfType<"xid">).xid, 462n);
  assert.equal(events[i + 5]!.type, "rotate");
});

test("old formats: 5.0 query-only binlog, intvar/rand/user_var, LOAD DATA blocks", async () => {
  const a = await readAll("bug33029-slave-relay-bin.000001");
  assert.equal(a.error, undefined);
  assert.ok(only(a.events, "intvar").every((e) => e.kind === "insert_id"));
  const b = await readAll("ver_5_1_23.001");
  assert.equal(b.error, undefined);
  const uv = only(b.events, "user_var");
  assert.ok(uv.length > 0);
  assert.ok(only(b.events, "rand").length > 0);
  assert.ok(only(b.events, "begin_load_query").length > 0);
  assert.ok(only(b.events, "execute_load_query")[0]!.query.includes("LOAD DATA"));
});

test("start and stop positions", async () => {
  const all = (await readAll("mariadb-bin.000001")).events;
  const from = await readAll("mariadb-bin.000001", { startPosition: 702 });
  assert.equal(from.error, undefined);
  assert.deepEqual(
    from.events.map((e) => e.position.offset),
    all.filter((e) => e.position.offset >= 702).map((e) => e.position.offset),
  );
  // the table map and rows still decode: the format description was read first
  assert.equal(from.events.find((e) => e.type === "write_rows_v1")?.type, "write_rows_v1");
  const upTo = await readAll("mariadb-bin.000001", { stopPosition: 702 });
  assert.deepEqual(
    upTo.events.map((e) => e.position.offset),
    all.filter((e) => e.position.offset < 702).map((e) => e.position.offset),
  );
});

test("several files are read in order with one decoder", async () => {
  const events: BinlogEvent[] = [];
  for await (const ev of readBinlogFiles({
    files: [`${FIXTURES}mariadb-bin.000001`, `${FIXTURES}json.binlog.000001`],
  }))
    events.push(ev);
  const files = [...new Set(events.map((e) => e.position.file))];
  assert.deepEqual(files, ["mariadb-bin.000001", "json.binlog.000001"]);
});

test("the file reader gives the same output with tiny reads (events spanning many chunks)", async () => {
  for (const name of ["mariadb-bin.000001", "transaction_compression.000001", "corrupt-relay-bin.000624"]) {
    const lines = async (chunkSize: number) => {
      const out: string[] = [];
      try {
        for await (const ev of readBinlogFiles({ files: [FIXTURES + name], chunkSize }))
          out.push(JSON.stringify(eventToJson(ev)));
      } catch (e) {
        out.push(e instanceof SluiceError ? e.describe() : String(e));
      }
      return out.join("\n");
    };
    assert.equal(await lines(7), await lines(1 << 20), name);
  }
});
