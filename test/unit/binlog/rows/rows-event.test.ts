// Rows events built by hand: images and bitmaps, v2 extra data, partial JSON updates, MariaDB
// compression, streaming row by row, and fuzzed bytes that may only ever fail with a SluiceError.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import {
  ABSENT,
  ColumnType,
  decodeRowsEvent,
  decodeTableMapEvent,
  iterateRows,
  openRowsEvent,
  rowsEventToJson,
  type TableMapEvent,
} from "../../../../src/codecs/binlog/rows/index.ts";
import { metadataLength } from "../../../../src/codecs/binlog/rows/table-map.ts";
import { EventType, type FormatContext } from "../../../../src/codecs/binlog/types.ts";
import { SluiceError } from "../../../../src/core/errors.ts";

const postHeaderLengths = new Uint8Array(256);
postHeaderLengths[EventType.TABLE_MAP] = 8;
for (const t of [23, 24, 25, 166, 167, 168]) postHeaderLengths[t] = 8;
for (const t of [30, 31, 32, 39, 169, 170, 171]) postHeaderLengths[t] = 10;
const ctx: FormatContext = {
  binlogVersion: 4,
  serverVersion: "8.0.40",
  flavor: "mysql",
  commonHeaderLength: 19,
  postHeaderLengths,
  checksum: 0,
};
const at = { file: "hand.000001", offset: 1000 };

const lenenc = (n: number) => (n < 251 ? Buffer.from([n]) : Buffer.from([0xfc, n & 0xff, n >> 8]));
const u48 = (n: number) => {
  const b = Buffer.alloc(6);
  b.writeUIntLE(n, 0, 6);
  return b;
};
const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const str = (s: string) => Buffer.concat([lenenc(Buffer.byteLength(s)), Buffer.from(s)]);

/** Table map: (id INT UNSIGNED, name VARCHAR(20) utf8mb4, doc JSON) with names and signedness. */
function tableMap(tableId = 42): Buffer {
  const types = Buffer.from([ColumnType.LONG, ColumnType.VARCHAR, ColumnType.JSON]);
  const meta = Buffer.concat([u16(80), Buffer.from([4])]);
  const optional = Buffer.concat([
    Buffer.from([1]), // SIGNEDNESS
    lenenc(1),
    Buffer.from([0x80]),
    Buffer.from([2]), // DEFAULT_CHARSET utf8mb4_general_ci
    lenenc(1),
    Buffer.from([45]),
    Buffer.from([4]), // COLUMN_NAME
    lenenc(3 + 1 + 4 + 1 + 3),
    str("id"),
    str("name"),
    str("doc"),
    Buffer.from([99, 2, 0xaa, 0xbb]), // an unknown optional field: skipped
  ]);
  return Buffer.concat([
    u48(tableId),
    u16(1),
    Buffer.from([2]),
    Buffer.from("db\0"),
    Buffer.from([1]),
    Buffer.from("t\0"),
    lenenc(3),
    types,
    lenenc(meta.length),
    meta,
    Buffer.from([0b110]),
    optional,
  ]);
}

function tables(): Map<bigint, TableMapEvent> {
  const m = decodeTableMapEvent(tableMap(), ctx, at);
  return new Map([[m.tableId, m]]);
}

function jsonDoc(text: "true" | "false"): Buffer {
  return Buffer.from([0x04, text === "true" ? 1 : 2]);
}

/** One image of the three columns: present bitmap applies; values are [id, name, json bytes] or null. */
function image(present: boolean[], values: Array<number | string | Buffer | null>): Buffer {
  const parts: Buffer[] = [];
  let k = 0;
  let nulls = 0;
  values.forEach((v, i) => {
    if (!present[i]) return;
    if (v === null) nulls |= 1 << k;
    else if (typeof v === "number") {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v);
      parts.push(b);
    } else if (typeof v === "string") parts.push(Buffer.from([Buffer.byteLength(v)]), Buffer.from(v));
    else parts.push(u32(v.length), v);
    k++;
  });
  return Buffer.concat([Buffer.from([nulls]), ...parts]);
}

const bits = (b: boolean[]) => Buffer.from([b.reduce((acc, x, i) => acc | (x ? 1 << i : 0), 0)]);

function rowsBody(
  type: number,
  presentA: boolean[],
  presentB: boolean[] | undefined,
  rows: Buffer[],
  extra = Buffer.alloc(0),
  flags = 1,
): Buffer {
  const v2 = [30, 31, 32, 39, 169, 170, 171].includes(type);
  return Buffer.concat([
    u48(42),
    u16(flags),
    v2 ? u16(2 + extra.length) : Buffer.alloc(0),
    extra,
    lenenc(3),
    bits(presentA),
    presentB ? bits(presentB) : Buffer.alloc(0),
    ...rows,
  ]);
}

const ALL = [true, true, true];

test("WRITE_ROWS v1 and v2: names, unsigned, NULL, STMT_END, partition extra data", () => {
  const body1 = rowsBody(23, ALL, undefined, [
    image(ALL, [4294967295, "é", jsonDoc("true")]),
    image(ALL, [1, null, null]),
  ]);
  const ev = decodeRowsEvent(body1, 23, ctx, tables(), at);
  assert.equal(ev.stmtEnd, true);
  assert.deepEqual(rowsEventToJson(ev), {
    schema: "db",
    table: "t",
    rows: [{ after: { id: 4294967295, name: "é", doc: true } }, { after: { id: 1, name: null, doc: null } }],
  });
  const extra = Buffer.from([1, 7, 0]); // partition id 7
  const ev2 = decodeRowsEvent(
    rowsBody(30, ALL, undefined, [image(ALL, [2, "x", jsonDoc("false")])], extra, 0),
    30,
    ctx,
    tables(),
    at,
  );
  assert.deepEqual(ev2.extra, { partitionId: 7 });
  assert.equal(ev2.stmtEnd, false);
  assert.deepEqual(rowsEventToJson(ev2).rows, [{ after: { id: 2, name: "x", doc: false } }]);
});

test("UPDATE with MINIMAL images: separate bitmaps, absent is ABSENT and never a key", () => {
  const before = [true, false, false];
  const after = [false, true, false];
  const body = rowsBody(31, before, after, [
    image(before, [5, null, null]),
    image(after, [null, "new", null]),
  ]);
  const ev = decodeRowsEvent(body, 31, ctx, tables(), at);
  assert.deepEqual(ev.rows[0]!.before, [5, ABSENT, ABSENT]);
  assert.deepEqual(ev.rows[0]!.after, [ABSENT, "new", ABSENT]);
  assert.deepEqual(rowsEventToJson(ev).rows, [{ before: { id: 5 }, after: { name: "new" } }]);
});

test("PARTIAL_UPDATE_ROWS: JSON diffs applied to the before document", () => {
  // before {"a": 1}: small object, count 1, size 12, key at 11 (length 1), int16 1 inlined
  const fixedBefore = Buffer.from([
    0x00, 0x01, 0x00, 0x0c, 0x00, 0x0b, 0x00, 0x01, 0x00, 0x05, 0x01, 0x00, 0x61,
  ]);
  // diff: REPLACE $.a = true; INSERT $.b = false
  const diff = Buffer.concat([
    Buffer.from([0]),
    str("$.a"),
    lenenc(2),
    jsonDoc("true"),
    Buffer.from([1]),
    str("$.b"),
    lenenc(2),
    jsonDoc("false"),
  ]);
  const row = Buffer.concat([
    image(ALL, [9, "n", fixedBefore]),
    Buffer.from([1]), // value options: PARTIAL_JSON_UPDATES
    Buffer.from([1]), // partial bits: the one JSON column
    Buffer.from([0]), // null bitmap of the after image
    u32(9),
    Buffer.from([1, 0x6e]),
    u32(diff.length),
    diff,
  ]);
  const ev = decodeRowsEvent(rowsBody(39, ALL, ALL, [row]), 39, ctx, tables(), at);
  assert.deepEqual(rowsEventToJson(ev).rows, [
    { before: { id: 9, name: "n", doc: { a: 1 } }, after: { id: 9, name: "n", doc: { a: true, b: false } } },
  ]);
});

test("MariaDB compressed rows: zlib framing inflated before the rows are read", () => {
  const rows = Buffer.concat([image(ALL, [1, "a", jsonDoc("true")]), image(ALL, [2, "b", null])]);
  const z = deflateSync(rows);
  const framed = Buffer.concat([Buffer.from([0x81, rows.length]), z]);
  const head = rowsBody(166, ALL, undefined, []);
  const ev = decodeRowsEvent(Buffer.concat([head, framed]), 166, ctx, tables(), at);
  assert.deepEqual(
    rowsEventToJson(ev).rows.map((r) => r.after!.id),
    [1, 2],
  );
  const bad = Buffer.concat([head, Buffer.from([0x81, rows.length + 1]), z]);
  assert.throws(() => decodeRowsEvent(bad, 166, ctx, tables(), at), { name: "SluiceError" });
});

test("iterateRows streams a huge event one row at a time", () => {
  const n = 20000;
  const one = image(ALL, [0, "row", null]);
  const rows: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const r = Buffer.from(one);
    r.writeUInt32LE(i, 1);
    rows.push(r);
  }
  const frame = openRowsEvent(rowsBody(23, ALL, undefined, rows), 23, ctx, tables(), at);
  let count = 0;
  for (const row of iterateRows(frame)) {
    assert.equal(row.after![0], count);
    count++;
  }
  assert.equal(count, n);
});

test("errors name the table map, file and offset", () => {
  assert.throws(
    () => decodeRowsEvent(rowsBody(23, ALL, undefined, [image(ALL, [1, "x", null])]), 23, ctx, new Map(), at),
    (e: unknown) =>
      e instanceof SluiceError && e.code === "BINLOG_UNKNOWN_TABLE" && e.context.offset === 1000,
  );
  const truncated = rowsBody(23, ALL, undefined, [image(ALL, [1, "xyz", null]).subarray(0, 7)]);
  assert.throws(
    () => decodeRowsEvent(truncated, 23, ctx, tables(), at),
    (e: unknown) =>
      e instanceof SluiceError && e.code === "BINLOG_TRUNCATED" && e.context.file === "hand.000001",
  );
});

test("fuzzed bytes: table maps and rows events fail only with SluiceError", () => {
  const map = tableMap();
  const body = rowsBody(31, ALL, ALL, [image(ALL, [1, "x", jsonDoc("true")]), image(ALL, [2, "y", null])]);
  const mutate = (base: Buffer) =>
    fc
      .array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })
      .chain((edits) => fc.tuple(fc.constant(edits), fc.nat(base.length)))
      .map(([edits, cut]) => {
        const b = Buffer.from(base);
        for (const [i, v] of edits) b[i] = v;
        return b.subarray(0, cut);
      });
  const onlySluice = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof SluiceError)) throw e;
    }
  };
  fc.assert(
    fc.property(mutate(map), (b) => onlySluice(() => decodeTableMapEvent(b, ctx, at))),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(mutate(body), fc.constantFrom(23, 24, 25, 30, 31, 32, 39, 166, 170), (b, type) =>
      onlySluice(() => rowsEventToJson(decodeRowsEvent(b, type, ctx, tables(), at))),
    ),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(19, 23, 31, 39, 167), (bytes, type) =>
      onlySluice(() => {
        const b = Buffer.from(bytes);
        if (type === 19) decodeTableMapEvent(b, ctx, at);
        else rowsEventToJson(decodeRowsEvent(b, type, ctx, tables(), at));
      }),
    ),
    { numRuns: 3000 },
  );
});

test("fuzzed table maps of every column type with random row bytes fail only with SluiceError", () => {
  const typeCodes = Object.values(ColumnType).filter((t) => t !== ColumnType.TYPED_ARRAY);
  const column = fc.record({
    type: fc.constantFrom(...typeCodes),
    meta: fc.uint8Array({ minLength: 2, maxLength: 2 }),
  });
  fc.assert(
    fc.property(
      fc.array(column, { minLength: 1, maxLength: 6 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.constantFrom(23, 24, 25),
      fc.constantFrom(8, 26, 35, 45, 54, 56, 60, 63, 255, 2304),
      (cols, rowBytes, type, collation) => {
        const metas: Buffer[] = [];
        for (const c of cols) {
          const len = metadataLength(c.type);
          metas.push(Buffer.from(c.meta).subarray(0, len));
        }
        const meta = Buffer.concat(metas);
        const map = Buffer.concat([
          u48(7),
          u16(0),
          Buffer.from([1, 0x64, 0, 1, 0x74, 0]),
          lenenc(cols.length),
          Buffer.from(cols.map((c) => c.type)),
          lenenc(meta.length),
          meta,
          Buffer.from([0xff]),
          // DEFAULT_CHARSET for the character columns, ENUM_AND_SET_DEFAULT_CHARSET for the others
          Buffer.from([2]),
          lenenc(lenenc(collation).length),
          lenenc(collation),
          Buffer.from([10]),
          lenenc(lenenc(collation).length),
          lenenc(collation),
        ]);
        try {
          const m = decodeTableMapEvent(map, ctx, at);
          const present = Buffer.from([0xff]);
          const body = Buffer.concat([
            u48(7),
            u16(0),
            lenenc(cols.length),
            present,
            type === 24 ? present : Buffer.alloc(0),
            Buffer.from(rowBytes),
          ]);
          rowsEventToJson(decodeRowsEvent(body, type, ctx, new Map([[m.tableId, m]]), at));
        } catch (e) {
          if (!(e instanceof SluiceError)) throw e;
        }
      },
    ),
    { numRuns: 5000 },
  );
});
