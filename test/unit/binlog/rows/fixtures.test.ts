// Table maps and rows events of the shared binlog fixtures (MySQL 5.1 NDB to 9.0, MariaDB 10.5).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeRowsEvent,
  decodeTableMapEvent,
  JsonDiffList,
  OptionalMetadata,
  type RowsEvent,
  rowsEventLayout,
  rowsEventToJson,
  rowsEventToText,
  type TableMapEvent,
} from "../../../../src/codecs/binlog/rows/index.ts";
import { walkBinlog } from "./walk.ts";

function decodeFixture(file: string): { maps: TableMapEvent[]; rows: RowsEvent[] } {
  const { ctx, events, name } = walkBinlog(file);
  const tables = new Map<bigint, TableMapEvent>();
  const maps: TableMapEvent[] = [];
  const rows: RowsEvent[] = [];
  for (const e of events) {
    const at = { file: name, offset: e.offset };
    if (e.typeCode === 19) {
      const m = decodeTableMapEvent(e.body, ctx, at);
      tables.set(m.tableId, m);
      maps.push(m);
    } else if (rowsEventLayout(e.typeCode)) {
      rows.push(decodeRowsEvent(e.body, e.typeCode, ctx, tables, at));
    }
  }
  return { maps, rows };
}

const json = (ev: RowsEvent) => rowsEventToJson(ev).rows;

test("json.binlog.000001 (MySQL 8.0): binary JSON documents, updates, partial JSON diffs", () => {
  const { rows } = decodeFixture("json.binlog.000001");
  assert.deepEqual(json(rows[0]!), [
    { after: { "@1": 1, "@2": { age: 24, data: "xxxxxxxxxx", name: "Joe" }, "@3": "Joe", "@4": 24 } },
  ]);
  const upd = rows.find((e) => e.kind === "update" && e.typeCode === 31)!;
  assert.equal(json(upd).length, 6);
  assert.deepEqual(json(upd)[0]!.after!["@2"], { age: 25, data: "xxxxxxxxxx", name: "Joe" });
  // PARTIAL_UPDATE_ROWS with a MINIMAL before image: the JSON column is reported as its diffs.
  const partial = rows.find((e) => e.typeCode === 39)!;
  assert.equal(partial.rows[0]!.after![1] instanceof JsonDiffList, true);
  assert.deepEqual(json(partial)[0], {
    before: { "@1": 1 },
    after: { "@2": { jsonDiffs: [{ op: "replace", path: "$.age", value: 26 }] }, "@3": "Joe", "@4": 26 },
  });
  assert.match(rowsEventToText(partial), /JSON diffs\(replace \$\.age = 26\)/);
});

test("json-opaque.binlog (MySQL 9.0): opaque JSON values print as MySQL prints them", () => {
  const { rows } = decodeFixture("json-opaque.binlog");
  assert.deepEqual(
    rows.map((e) => json(e)[0]!.after!.a),
    [
      { a: "base64:type15:VQ==" },
      { b: "2012-03-18" },
      { c: "2012-03-18 11:30:45.000000" },
      { c: "87:31:46.654321" },
      { d: 123.456 },
      { e: 9 },
      { e: [0, 1, true, false] },
      { e: null },
    ],
  );
});

test("mysql-enum-string-set.000001: long CHAR, ENUM and SET labels from FULL metadata", () => {
  const { maps, rows } = decodeFixture("mysql-enum-string-set.000001");
  const m = maps[0]!;
  assert.deepEqual(
    m.columns.map((c) => c.name),
    ["f1", "f2", "f3", "f4", "f5"],
  );
  assert.deepEqual(m.columns[2]!.labels, ["var1", "variant2", "foo"]);
  assert.deepEqual(m.columns[3]!.labels, ["one", "two", "three", "four"]);
  const last = json(rows[rows.length - 1]!)[0]!;
  assert.equal(last.before!.f3, "variant2");
  assert.equal(last.before!.f4, "two,four");
  const first = json(rows[0]!)[0]!.after!;
  assert.equal((first.f1 as string).length, 100);
});

test("mysql_type_bit.000001: BIT values as integers", () => {
  const { rows } = decodeFixture("mysql_type_bit.000001");
  assert.deepEqual(json(rows[0]!), [{ after: { a: 4, b: "foo", c: 32 } }]);
});

test("time_issue.000001: negative TIME2 beyond 24 hours", () => {
  const { rows } = decodeFixture("time_issue.000001");
  assert.deepEqual(json(rows[0]!), [{ after: { "@1": "-507:48:27" } }]);
});

test("NDB 5.1 fixtures: v2-era rows events with full and partial images", () => {
  const full = decodeFixture("update-full-row.binlog").rows;
  assert.deepEqual(json(full[2]!), [
    { before: { "@1": 4, "@2": 4, "@3": 4 }, after: { "@1": 4, "@2": 4, "@3": 40 } },
  ]);
  const partial = decodeFixture("update-partial-row.binlog").rows;
  assert.deepEqual(json(partial[2]!), [{ before: { "@1": 4, "@3": 4 }, after: { "@1": 4, "@3": 40 } }]);
  assert.deepEqual(partial[2]!.presentBefore, [true, false, true]);
  const write = decodeFixture("write-partial-row.binlog").rows;
  assert.deepEqual(json(write[2]!), [{ after: { "@1": 4, "@3": 40 } }]);
  assert.deepEqual(json(decodeFixture("write-full-row.binlog").rows[1]!).length, 5);
});

test("vector.binlog (MySQL 9.0): VECTOR columns, VECTOR counted among charset columns", () => {
  const { maps, rows } = decodeFixture("vector.binlog");
  assert.deepEqual(json(rows[0]!), [
    { after: { id: 1, vector_column: [1.1, 2.2, 3.3] } },
    { after: { id: 2, vector_column: [1, -1, 0] } },
  ]);
  const bar = maps.find((m) => m.table === "bar")!;
  assert.deepEqual(
    bar.columns.map((c) => c.charset),
    [undefined, "binary", "utf8mb4", "binary"],
  );
  assert.equal(rows.length, 6);
});

test("minimal_row_metadata.000001 (MySQL 8.0): signedness and charsets without names", () => {
  const { maps, rows } = decodeFixture("minimal_row_metadata.000001");
  assert.equal(maps[0]!.optionalMetadata.includes(OptionalMetadata.COLUMN_NAME), false);
  assert.deepEqual(
    maps[0]!.columns.map((c) => c.unsigned),
    [false, undefined, undefined, false, true],
  );
  assert.deepEqual(json(rows[0]!), [{ after: { "@1": 1, "@3": "a", "@5": 3230202323 } }]);
});

test("mariadb-bin.000001 (MariaDB 10.5): ENUM labels, binary BLOB, TIMESTAMP2", () => {
  const { rows } = decodeFixture("mariadb-bin.000001");
  assert.deepEqual(json(rows[0]!), [
    {
      after: {
        id: 62,
        topic: "foo",
        event_type: "JSON",
        event: { base64: Buffer.from('{"foo":1}').toString("base64") },
        created: "2022-04-20 22:18:04",
      },
    },
  ]);
});

test("binlog-invisible-columns.000001: COLUMN_VISIBILITY and NULLs", () => {
  const { maps, rows } = decodeFixture("binlog-invisible-columns.000001");
  assert.deepEqual(
    maps[0]!.columns.map((c) => c.visible),
    [false, false, true, true, true, false], // CREATE TABLE t1 (f1, f2 INVISIBLE, f3, f4, f5, f6 INVISIBLE)
  );
  assert.deepEqual(json(rows[1]!), [
    { after: { f1: null, f2: null, f3: -33, f4: "44", f5: { base64: "VQ==" }, f6: null } },
  ]);
  assert.deepEqual(json(rows[2]!)[0]!.after, {
    f1: 111,
    f2: 222,
    f3: -333,
    f4: "444",
    f5: { base64: "VQ==" },
    f6: null,
  });
});

test("rpl_unfiltered_hidden_gcol.000001: a hidden generated column is absent, not null", () => {
  const { rows } = decodeFixture("rpl_unfiltered_hidden_gcol.000001");
  assert.deepEqual(json(rows[0]!), [{ after: { "@1": 1, "@3": "1" } }]);
  assert.equal(rows[0]!.stmtEnd, true);
});
