import assert from "node:assert/strict";
import { test } from "node:test";
import { toCdcInputs } from "../../../src/cdc/input.ts";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";

const header = { timestamp: 1_700_000_000, typeCode: 0, serverId: 7, eventSize: 0, logPos: 0, flags: 0 };
let offset = 4;
function ev(data: Record<string, unknown>): BinlogEvent {
  const position = { file: "bin.000002", offset, next: offset + 50 };
  offset += 50;
  return { header, position, ...data } as unknown as BinlogEvent;
}
const kinds = (e: BinlogEvent) => [...toCdcInputs(e)].map((i) => i.type);

test("decoded events map to begin / rows / commit / ddl / rotate / heartbeat; the rest is dropped", () => {
  assert.deepEqual(
    kinds(ev({ type: "mariadb_gtid", gtid: "0-7-9", seqNo: 9n, domainId: 0, flags: 0, standalone: false })),
    ["begin"],
  );
  const [b] = [...toCdcInputs(ev({ type: "gtid", gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:5" }))];
  assert.ok(b?.type === "begin" && b.gtid === "3e11fa47-71ca-11e1-9e33-c80aa9429562:5" && b.serverId === 7);
  assert.deepEqual(kinds(ev({ type: "query", query: "BEGIN", database: "" })), ["begin"]);
  assert.deepEqual(kinds(ev({ type: "query", query: "COMMIT", database: "" })), ["commit"]);
  assert.deepEqual(kinds(ev({ type: "query", query: "ALTER TABLE t ADD c INT", database: "shop" })), ["ddl"]);
  assert.deepEqual(kinds(ev({ type: "xid", xid: 5n })), ["commit"]);
  const [r] = [...toCdcInputs(ev({ type: "rotate", nextFile: "bin.000003", nextPosition: 4n }))];
  assert.ok(r?.type === "rotate" && r.nextFile === "bin.000003" && r.nextPosition === 4);
  assert.deepEqual(kinds(ev({ type: "heartbeat", binlogFile: "bin.000002" })), ["heartbeat"]);
  assert.deepEqual(kinds(ev({ type: "write_rows_v2", typeCode: 30, rows: { kind: "write", rows: [] } })), [
    "rows",
  ]);
  assert.deepEqual(kinds(ev({ type: "write_rows_v2", typeCode: 30, raw: Buffer.alloc(1) })), []);
  assert.deepEqual(kinds(ev({ type: "table_map" })), []);
  assert.deepEqual(kinds(ev({ type: "format_description" })), []);
});

test("a transaction payload yields its inner events in order, with positions and header times", () => {
  const inner = [
    ev({ type: "query", query: "BEGIN", database: "" }),
    ev({ type: "write_rows_v2", rows: { kind: "write", rows: [] } }),
    ev({ type: "xid", xid: 1n }),
  ];
  const outer = ev({ type: "transaction_payload", events: inner });
  const got = [...toCdcInputs(outer)];
  assert.deepEqual(
    got.map((g) => g.type),
    ["begin", "rows", "commit"],
  );
  assert.equal(got[2]!.position.next, inner[2]!.position.next);
  assert.equal(got[0]!.timestamp, 1_700_000_000);
});
