// The direct JSON line writer against the reference path, JSON.stringify(eventToJson(ev)): byte for
// byte on every shared fixture, on hand-made rows events with every cell kind, and on random strings
// and numbers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import {
  eventToJsonLine,
  jsonBigint,
  jsonNumber,
  jsonString,
} from "../../../src/codecs/binlog/jsonl-writer.ts";
import { bigintToJson, eventToJson } from "../../../src/codecs/binlog/output.ts";
import {
  ABSENT,
  type CellValue,
  type ColumnDef,
  ColumnType,
  JsonDiffList,
  JsonText,
} from "../../../src/codecs/binlog/rows/index.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";
import { FIXTURES, fixtureNames } from "./helpers.ts";

const reference = (ev: BinlogEvent) => JSON.stringify(eventToJson(ev));

describe("every shared fixture: each event's line is the reference line", () => {
  for (const name of fixtureNames()) {
    test(name, async () => {
      let n = 0;
      try {
        for await (const ev of readBinlogFiles({ files: [FIXTURES + name] })) {
          assert.equal(eventToJsonLine(ev), reference(ev), `${name} at ${ev.position.offset}`);
          n++;
        }
      } catch (e) {
        // damaged fixtures end in an error (fixtures.test.ts checks which); what came before counts
        if (!(e instanceof Error)) throw e;
      }
      if (!name.includes("truncated")) assert.ok(n > 0, "no events compared");
    });
  }
});

function col(index: number, realType: number, name?: string): ColumnDef {
  return { index, type: realType, realType, ...(name === undefined ? {} : { name }) } as unknown as ColumnDef;
}

/** A rows event over these columns (the fields the output reads; the rest are not used by it). */
function rowsEvent(
  cols: ColumnDef[],
  rows: Array<{ before?: CellValue[]; after?: CellValue[] }>,
  extra: { gtid?: string; payloadOffset?: number } = {},
): BinlogEvent {
  return {
    type: "update_rows_v1",
    header: { timestamp: 1700000000, serverId: 7, typeCode: 24, eventSize: 0, logPos: 0, flags: 0 },
    position: {
      file: "bin.000001",
      offset: 4,
      next: 100,
      ...(extra.payloadOffset === undefined ? {} : { payloadOffset: extra.payloadOffset }),
    },
    ...(extra.gtid === undefined ? {} : { gtid: extra.gtid }),
    rows: {
      kind: "update",
      table: { schema: 's"ch', table: "t\u2028", columns: cols },
      rows,
    },
  } as unknown as BinlogEvent;
}

const KINDS = [
  ColumnType.LONG,
  ColumnType.LONGLONG,
  ColumnType.FLOAT,
  ColumnType.DOUBLE,
  ColumnType.VARCHAR,
  ColumnType.BLOB,
  ColumnType.VECTOR,
  ColumnType.JSON,
];

test("hand-made rows events: every cell kind, absent cells, before/after combinations, odd names", () => {
  const cols = KINDS.map((t, i) => col(i, t, `c${i}`));
  const values: CellValue[] = [
    -5,
    2n ** 63n - 1n,
    1.100000023841858,
    Number.NaN,
    'a"\\\n\u0000\ud800x\udc00😀',
    Buffer.from([0, 1, 2, 255]),
    Buffer.from(new Float32Array([1.5, -0.1]).buffer),
    new JsonText('{"a": [1, 2.50, "x"], "__proto__": {"b": null}}'),
  ];
  const other: CellValue[] = [
    null,
    -(2n ** 53n),
    -0,
    Number.POSITIVE_INFINITY,
    "",
    ABSENT,
    null,
    new JsonDiffList([{ op: "replace", path: "$.a", value: new JsonText("1") }]),
  ];
  const rows = [{ before: values, after: other }, { after: values }, { before: other }, {}];
  for (const ev of [
    rowsEvent(cols, rows),
    rowsEvent(cols, rows, { gtid: "0-1-5", payloadOffset: 17 }),
    // unknown names (@N), integer-like, duplicate and __proto__ names take the reference path
    rowsEvent(
      KINDS.map((t, i) => col(i, t)),
      rows,
    ),
    rowsEvent([col(0, ColumnType.LONG, "b"), col(1, ColumnType.LONG, "1")], [{ after: [1, 2] }]),
    rowsEvent([col(0, ColumnType.LONG, "x"), col(1, ColumnType.LONG, "x")], [{ after: [1, 2] }]),
    rowsEvent([col(0, ColumnType.LONG, "__proto__"), col(1, ColumnType.LONG, "y")], [{ after: [1, 2] }]),
    rowsEvent([col(0, ColumnType.LONG, "4294967295"), col(1, ColumnType.LONG, "y")], [{ after: [1, 2] }]),
    rowsEvent([col(0, ColumnType.LONG, "01"), col(1, ColumnType.LONG, "y")], [{ after: [1, 2] }]),
  ])
    assert.equal(eventToJsonLine(ev), reference(ev));
});

test("strings are escaped exactly as JSON.stringify does (controls, quotes, lone surrogates)", () => {
  const unit = fc.oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0xd7f0, max: 0xe010 }),
    fc.integer({ min: 0, max: 0xffff }),
  );
  fc.assert(
    fc.property(fc.array(unit, { maxLength: 40 }), (codes) => {
      const s = String.fromCharCode(...codes);
      assert.equal(jsonString(s), JSON.stringify(s));
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => assert.equal(jsonString(s), JSON.stringify(s))),
  );
});

test("numbers and bigints are written as the reference writes them", () => {
  fc.assert(
    fc.property(fc.double(), (n) => assert.equal(jsonNumber(n), JSON.stringify(n))),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), (v) =>
      assert.equal(jsonBigint(v), JSON.stringify(bigintToJson(v))),
    ),
    { numRuns: 5000 },
  );
  for (const v of [2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, -(2n ** 53n), 0n])
    assert.equal(jsonBigint(v), JSON.stringify(bigintToJson(v)));
});

test("random rows of strings, numbers and bigints give the reference line", () => {
  const cell = fc.oneof(
    fc.constant(null),
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.double(),
    fc.float().map((f) => Math.fround(f)),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
    fc.uint8Array({ maxLength: 10 }).map((a) => Buffer.from(a)),
    fc.constant(ABSENT),
  );
  const cols = [
    col(0, ColumnType.LONG, "a"),
    col(1, ColumnType.FLOAT, "b"),
    col(2, ColumnType.VARCHAR, "c d"),
    col(3, ColumnType.BLOB, "é"),
  ];
  fc.assert(
    fc.property(
      fc.array(
        fc.record(
          {
            before: fc.array(cell, { minLength: 4, maxLength: 4 }),
            after: fc.array(cell, { minLength: 4, maxLength: 4 }),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 5 },
      ),
      (rows) => {
        const ev = rowsEvent(cols, rows);
        assert.equal(eventToJsonLine(ev), reference(ev));
      },
    ),
    { numRuns: 2000 },
  );
});
