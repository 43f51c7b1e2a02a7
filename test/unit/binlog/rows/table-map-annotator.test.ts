// TableMapAnnotator: table maps of a decoded event stream filled in from the schema resolver (FULL
// metadata as MINIMAL), one filled-in columns array per decoded columns and schema version, the
// decoded columns never changed, DDL followed. The resolver's queries are answered by a function, as
// information_schema answers them (the integration tests ask a real server).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BinlogEvent } from "../../../../src/codecs/binlog/events.ts";
import { type ColumnDef, ColumnType, type TableMapEvent } from "../../../../src/codecs/binlog/rows/types.ts";
import { SchemaResolver, TableMapAnnotator } from "../../../../src/sources/schema/index.ts";

function column(index: number, type: number, name: string | undefined): ColumnDef {
  return {
    index,
    type,
    realType: type,
    meta: type === ColumnType.BLOB ? 4 : 0,
    nullable: true,
    name,
    unsigned: type === ColumnType.LONG ? false : undefined,
    collation: type === ColumnType.BLOB ? 46 : undefined,
    charset: type === ColumnType.BLOB ? "utf8mb4" : undefined,
    labels: undefined,
    geometryType: undefined,
    visible: undefined,
    dataType: undefined,
    decimals: undefined,
  };
}

function tableMap(columns: ColumnDef[], offset: number): TableMapEvent {
  return {
    tableId: 7n,
    flags: 1,
    schema: "s",
    table: "t",
    columnCount: columns.length,
    columnTypes: Uint8Array.from(columns.map((c) => c.type)),
    columns,
    optionalMetadata: [],
    primaryKey: undefined,
    position: { file: "b.000001", offset },
  };
}

/** information_schema of `s.t (id INT, j LONGTEXT)`; `json` says whether j has its json_valid CHECK. */
function server() {
  const state = { json: true, queries: 0 };
  const resolver = new SchemaResolver(async (sql) => {
    state.queries++;
    if (/CHECK_CONSTRAINTS/.test(sql)) return state.json ? [{ clause: "json_valid(`j`)" }] : [];
    return [
      { name: "id", ordinal: 1, dataType: "int", columnType: "int(11)" },
      { name: "j", ordinal: 2, dataType: "longtext", columnType: "longtext", charset: "utf8mb4" },
    ];
  });
  return { state, resolver };
}

function queryEvent(sql: string, offset: number): BinlogEvent {
  return { type: "query", query: sql, database: "s", position: { file: "b.000001", offset } } as BinlogEvent;
}

test("FULL metadata: JSON marked on a copy, shared by the maps of the same columns and version", async () => {
  const { state, resolver } = server();
  const annotator = new TableMapAnnotator(resolver);
  const decoded = [column(0, ColumnType.LONG, "id"), column(1, ColumnType.BLOB, "j")];
  const first = tableMap(decoded, 100);
  await annotator.annotate(first);
  assert.deepEqual(
    first.columns.map((c) => c.dataType),
    ["int", "json"],
  );
  assert.notEqual(first.columns, decoded);
  assert.deepEqual(
    decoded.map((c) => c.dataType),
    [undefined, undefined],
    "the decoded columns are not changed",
  );
  // the next statement's table map (a codec may hand out the same columns, or the map itself again)
  const second = tableMap(decoded, 200);
  await annotator.annotate(second);
  assert.equal(second.columns, first.columns, "one filled-in array per columns and version");
  const reused = { ...first, position: { file: "b.000001", offset: 300 } };
  await annotator.annotate(reused);
  assert.equal(reused.columns, first.columns);
  assert.equal(state.queries, 2, "COLUMNS and CHECK_CONSTRAINTS once for the table");

  // DDL drops the CHECK: the next map, even one that carries the filled-in columns, is filled afresh
  state.json = false;
  assert.equal(annotator.observe(queryEvent("ALTER TABLE t DROP CONSTRAINT j", 400)), undefined);
  const after = { ...first, position: { file: "b.000001", offset: 500 } };
  await annotator.observe({ type: "table_map", tableMap: after } as BinlogEvent);
  assert.deepEqual(
    after.columns.map((c) => c.dataType),
    ["int", "longtext"],
  );
  assert.equal(state.queries, 4);
  // an event of the earlier version still gets the earlier columns
  const old = tableMap(decoded, 150);
  await annotator.annotate(old);
  assert.equal(old.columns, first.columns);
});

test("MINIMAL metadata: names from the schema; a map that no longer fits is SCHEMA_MISMATCH with the command's hint", async () => {
  const { resolver } = server();
  const annotator = new TableMapAnnotator(resolver, { hint: "or --no-schema" });
  const map = tableMap([column(0, ColumnType.LONG, undefined), column(1, ColumnType.BLOB, undefined)], 100);
  await annotator.annotate(map);
  assert.deepEqual(
    map.columns.map((c) => [c.name, c.dataType]),
    [
      ["id", "int"],
      ["j", "json"],
    ],
  );
  const older = tableMap([column(0, ColumnType.LONG, undefined)], 200);
  await assert.rejects(annotator.annotate(older), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, "SCHEMA_MISMATCH");
    assert.match(e.hint ?? "", /binlog_row_metadata=FULL.*; or --no-schema$/);
    return true;
  });
});

test("a table the schema does not show keeps what the binlog says", async () => {
  const resolver = new SchemaResolver(async () => []);
  const annotator = new TableMapAnnotator(resolver);
  const decoded = [column(0, ColumnType.BLOB, undefined)];
  const map = tableMap(decoded, 100);
  await annotator.annotate(map);
  assert.equal(map.columns, decoded);
});
