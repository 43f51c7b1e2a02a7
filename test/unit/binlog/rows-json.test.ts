// The byte writer of `binlog read --format jsonl` (src/codecs/binlog/rows-json) against the reference
// line, JSON.stringify(eventToJson(ev)) + "\n" of the eagerly decoded event: byte for byte on every
// event of every binlog fixture, and on generated tables and rows (every integer size and sign,
// strings with escapes, multi-byte and invalid UTF-8, latin1/ascii high bytes, binary and unknown
// charsets, NULLs, columns absent from MINIMAL images, odd column names, damaged rows events), and
// MariaDB's annotated statements written from their bytes (escapes, multi-byte and invalid UTF-8).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BinlogEventDecoder, deferredRowsFrame } from "../../../src/codecs/binlog/decoder.ts";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { eventToJson } from "../../../src/codecs/binlog/output.ts";
import { decoderOptionsFor } from "../../../src/codecs/binlog/render.ts";
import { ColumnType } from "../../../src/codecs/binlog/rows/types.ts";
import { deferredRowsCodec, JsonlSink, writeJsonLine } from "../../../src/codecs/binlog/rows-json/index.ts";
import { writeRowsEventJson } from "../../../src/codecs/binlog/rows-json/rows.ts";
import { BINLOG_MAGIC, EventType } from "../../../src/codecs/binlog/types.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";
import { FIXTURES } from "./helpers.ts";

const reference = (ev: BinlogEvent) => `${JSON.stringify(eventToJson(ev))}\n`;

/** What a run prints: its lines, then the error that ended it (code, context, message). */
interface Transcript {
  lines: string[];
  error: string | undefined;
}

function describeError(e: unknown): string {
  const x = e as { code?: string; context?: unknown; message?: string };
  return `${x.code} ${JSON.stringify(x.context)} ${x.message}`;
}

async function referenceRun(files: string[]): Promise<Transcript> {
  const lines: string[] = [];
  try {
    for await (const ev of readBinlogFiles({ files })) lines.push(reference(ev));
    return { lines, error: undefined };
  } catch (e) {
    return { lines, error: describeError(e) };
  }
}

/** As the CLI runs: rows and annotated statements left undecoded, one read buffer, each event written before the next. */
async function writerRun(files: string[], chunkSize?: number): Promise<Transcript> {
  const lines: string[] = [];
  const sink = new JsonlSink(64);
  try {
    for await (const ev of readBinlogFiles({
      files,
      reuseBuffer: true,
      decoder: decoderOptionsFor("jsonl"),
      ...(chunkSize === undefined ? {} : { chunkSize }),
    })) {
      writeJsonLine(ev, sink);
      lines.push(sink.take().toString("utf8"));
    }
    return { lines, error: undefined };
  } catch (e) {
    return { lines, error: describeError(e) };
  }
}

/** The binlog files under `dir` (those that start with the binlog magic). */
function binlogFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...binlogFiles(path));
    else if (readFileSync(path).subarray(0, 4).equals(BINLOG_MAGIC)) out.push(path);
  }
  return out;
}

const TEST_FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;

describe("every event of every binlog fixture: the writer's bytes are the reference line's", () => {
  const files = [...binlogFiles(FIXTURES), ...binlogFiles(TEST_FIXTURES)];
  test("the fixtures are found", () => assert.ok(files.length >= 30, `${files.length} binlog fixtures`));
  for (const path of files) {
    test(path.slice(path.indexOf("fixtures/")), async () => {
      const ref = await referenceRun([path]);
      const got = await writerRun([path]);
      assert.equal(got.lines.length, ref.lines.length, "events");
      for (let i = 0; i < ref.lines.length; i++) assert.equal(got.lines[i], ref.lines[i], `event ${i}`);
      assert.equal(got.error, ref.error);
      // small chunks: events across chunk ends, the read buffer reused many times
      const small = await writerRun([path], 997);
      assert.deepEqual(small, ref);
    });
  }
});

// ---- generated tables and rows, encoded as a server writes them ----

interface Col {
  type: number;
  meta: number;
  /** Collation id for character columns, or undefined (no charset metadata for the column). */
  collation: number | undefined;
  unsigned: boolean;
  name: string;
}

const CHAR_TYPES = new Set<number>([ColumnType.VARCHAR, ColumnType.BLOB, ColumnType.STRING]);

function lenenc(n: number): number[] {
  if (n < 251) return [n];
  return [0xfc, n & 0xff, n >> 8];
}

function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(v / 256 ** i) & 0xff);
  return out;
}

function bitmap(bits: boolean[], msbFirst = false): number[] {
  const out = new Array((bits.length + 7) >> 3).fill(0);
  bits.forEach((b, i) => {
    if (b) out[i >> 3] |= msbFirst ? 0x80 >> (i & 7) : 1 << (i & 7);
  });
  return out;
}

function event(type: number, body: number[], offset: number): Buffer {
  const size = 19 + body.length;
  return Buffer.from([
    ...le(1700000000, 4),
    type,
    ...le(7, 4),
    ...le(size, 4),
    ...le(offset + size, 4),
    0,
    0,
    ...body,
  ]);
}

function tableMapBody(cols: Col[], withCharsets: boolean): number[] {
  const meta: number[] = [];
  for (const c of cols) {
    if (c.type === ColumnType.VARCHAR) meta.push(...le(c.meta, 2));
    else if (c.type === ColumnType.STRING) meta.push(c.meta >> 8, c.meta & 0xff);
    else if (c.type === ColumnType.BLOB || c.type === ColumnType.FLOAT || c.type === ColumnType.DOUBLE)
      meta.push(c.meta);
  }
  const schema = [...Buffer.from("db")];
  const table = [...Buffer.from('t"é')];
  const opt: number[] = [];
  const field = (type: number, bytes: number[]) => opt.push(type, ...lenenc(bytes.length), ...bytes);
  // MariaDB's SIGNEDNESS has a bit for every numeric column, YEAR included
  const numeric = cols.filter((c) => !CHAR_TYPES.has(c.type) && c.type !== ColumnType.DATE);
  field(
    1,
    bitmap(
      numeric.map((c) => c.unsigned),
      true,
    ),
  );
  if (withCharsets)
    field(
      3,
      cols.filter((c) => CHAR_TYPES.has(c.type)).flatMap((c) => lenenc(c.collation ?? 45)),
    );
  field(
    4,
    cols.flatMap((c) => {
      const n = [...Buffer.from(c.name)];
      return [...lenenc(n.length), ...n];
    }),
  );
  return [
    ...le(42, 6),
    1,
    0,
    schema.length,
    ...schema,
    0,
    table.length,
    ...table,
    0,
    ...lenenc(cols.length),
    ...cols.map((c) => c.type),
    ...lenenc(meta.length),
    ...meta,
    ...bitmap(cols.map(() => true)),
    ...opt,
  ];
}

/** Bytes of the fixed-size column types the tables use. */
const FIXED_SIZE: Readonly<Record<number, number>> = {
  [ColumnType.TINY]: 1,
  [ColumnType.YEAR]: 1,
  [ColumnType.SHORT]: 2,
  [ColumnType.INT24]: 3,
  [ColumnType.DATE]: 3,
  [ColumnType.LONG]: 4,
  [ColumnType.FLOAT]: 4,
  [ColumnType.LONGLONG]: 8,
  [ColumnType.DOUBLE]: 8,
};

/** One cell's bytes: `value` bytes become the cell (strings get their length prefix). */
function cellBytes(c: Col, value: readonly number[]): number[] {
  const size = FIXED_SIZE[c.type];
  if (size !== undefined) return value.slice(0, size);
  switch (c.type) {
    case ColumnType.VARCHAR: {
      const v = value.slice(0, c.meta);
      return [...le(v.length, c.meta < 256 ? 1 : 2), ...v];
    }
    case ColumnType.BLOB:
      return [...le(value.length, c.meta), ...value];
    default: {
      // CHAR: the server strips trailing spaces
      const length = c.meta & 0xff;
      const v = value.slice(0, length);
      while (v.length > 0 && v[v.length - 1] === 0x20) v.pop();
      return [v.length, ...v];
    }
  }
}

interface Image {
  present: boolean[];
  cells: Array<readonly number[] | null>;
}

function imageBytes(cols: Col[], img: Image): number[] {
  const present = cols.map((_, i) => img.present[i]!);
  const nulls = img.cells.filter((_, i) => present[i]).map((v) => v === null);
  const out = bitmap(nulls);
  cols.forEach((c, i) => {
    const v = img.cells[i];
    if (present[i] && v !== null && v !== undefined) out.push(...cellBytes(c, v));
  });
  return out;
}

function rowsBody(kind: "write" | "update" | "delete", cols: Col[], rows: Image[][]): number[] {
  const first = rows[0]?.[0]?.present ?? cols.map(() => true);
  const second = rows[0]?.[1]?.present ?? cols.map(() => true);
  const out = [...le(42, 6), 1, 0, ...lenenc(cols.length), ...bitmap(first)];
  if (kind === "update") out.push(...bitmap(second));
  for (const r of rows) {
    // every row of an event has the event's bitmaps
    out.push(...imageBytes(cols, { ...r[0]!, present: first }));
    if (kind === "update") out.push(...imageBytes(cols, { ...r[1]!, present: second }));
  }
  return out;
}

const ROWS_TYPE = {
  write: EventType.WRITE_ROWS_V1,
  update: EventType.UPDATE_ROWS_V1,
  delete: EventType.DELETE_ROWS_V1,
} as const;

/** Decodes the events both ways: the reference transcript and the writer's. */
function bothWays(events: Buffer[]): { ref: Transcript; got: Transcript } {
  const run = (deferred: boolean): Transcript => {
    const decoder = new BinlogEventDecoder({
      checksum: 0,
      flavor: "mariadb",
      ...(deferred ? { rows: deferredRowsCodec } : {}),
    });
    const sink = new JsonlSink(16);
    const lines: string[] = [];
    let offset = 4;
    try {
      for (const bytes of events) {
        const ev = decoder.decode(bytes, { file: "gen-bin.000001", offset });
        offset += bytes.length;
        if (deferred) {
          writeJsonLine(ev, sink);
          lines.push(sink.take().toString("utf8"));
        } else lines.push(reference(ev));
      }
      return { lines, error: undefined };
    } catch (e) {
      return { lines, error: describeError(e) };
    }
  };
  return { ref: run(false), got: run(true) };
}

// Bytes of strings: ASCII, what JSON escapes, multi-byte UTF-8, invalid UTF-8, latin1 high bytes.
const stringByte = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 2, arbitrary: fc.constantFrom(0x22, 0x5c, 0x00, 0x0a, 0x0d, 0x09, 0x08, 0x0c, 0x1f, 0x7f) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
);
const utf8Chunk = fc
  .constantFrom("é", "€", "😀", "\u2028", "\ufeff", "漢字", "\u0000", '"', "\\", "a".repeat(11))
  .map((s) => [...Buffer.from(s)]);
const stringValue = fc
  .array(
    fc.oneof(
      stringByte.map((b) => [b]),
      utf8Chunk,
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.flat());
const intValue = fc
  .uint8Array({ minLength: 8, maxLength: 8 })
  .chain((b) =>
    fc
      .constantFrom(
        [...b],
        [0, 0, 0, 0, 0, 0, 0x20, 0],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0],
        [1, 0, 0, 0, 0, 0, 0xe0, 0xff],
        [0, 0, 0, 0, 0, 0, 0xe0, 0xff],
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        [0, 0, 0, 0, 0, 0, 0, 0x80],
        [0x80, 0x80, 0x80, 0x80, 0, 0, 0, 0],
      )
      .map((x) => x),
  );

// Collations: utf8mb4, utf8mb3, latin1, ascii, binary, cp1250 (kept as bytes), ucs2, none.
const collation = fc.constantFrom(45, 33, 8, 11, 63, 26, 35, undefined);
const colName = fc.oneof(
  { weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom("1", "__proto__", "0", 'q"uote', "é", "a\\b") },
);
const column: fc.Arbitrary<Col> = fc
  .record({
    type: fc.constantFrom(
      ColumnType.TINY,
      ColumnType.SHORT,
      ColumnType.INT24,
      ColumnType.LONG,
      ColumnType.LONGLONG,
      ColumnType.VARCHAR,
      ColumnType.BLOB,
      ColumnType.STRING,
      ColumnType.FLOAT,
      ColumnType.DOUBLE,
      ColumnType.YEAR,
      ColumnType.DATE,
    ),
    unsigned: fc.boolean(),
    collation,
    name: colName,
    size: fc.integer({ min: 1, max: 300 }),
  })
  .map(({ type, unsigned, collation, name, size }) => ({
    type,
    unsigned,
    collation: CHAR_TYPES.has(type) ? collation : undefined,
    name,
    meta:
      type === ColumnType.VARCHAR
        ? size
        : type === ColumnType.STRING
          ? (ColumnType.STRING << 8) | Math.min(size, 255)
          : type === ColumnType.BLOB
            ? 1 + (size % 2)
            : type === ColumnType.FLOAT
              ? 4
              : type === ColumnType.DOUBLE
                ? 8
                : 0,
  }));

function cellArb(c: Col): fc.Arbitrary<readonly number[] | null> {
  const v = CHAR_TYPES.has(c.type) ? stringValue : intValue;
  return fc.option(v, { freq: 5 });
}

const table = fc
  .uniqueArray(column, { minLength: 1, maxLength: 6, selector: (c) => c.name })
  .chain((cols) => fc.tuple(fc.constant(cols), fc.boolean(), fc.boolean()));

function imageArb(cols: Col[]): fc.Arbitrary<Image> {
  return fc.record({
    present: fc.array(fc.boolean(), { minLength: cols.length, maxLength: cols.length }),
    cells: fc.tuple(...cols.map(cellArb)),
  });
}

test("generated tables and rows: the writer's line is the reference line", () => {
  fc.assert(
    fc.property(
      table.chain(([cols, charsets, minimal]) =>
        fc.record({
          cols: fc.constant(cols),
          charsets: fc.constant(charsets),
          kind: fc.constantFrom("write" as const, "update" as const, "delete" as const),
          rows: fc.array(fc.tuple(imageArb(cols), imageArb(cols)), { minLength: 1, maxLength: 4 }),
          minimal: fc.constant(minimal),
          dup: fc.boolean(),
        }),
      ),
      ({ cols, charsets, kind, rows, minimal, dup }) => {
        // duplicate names make the table take the reference path
        const named =
          dup && cols.length > 1 ? cols.map((c, i) => (i === 1 ? { ...c, name: cols[0]!.name } : c)) : cols;
        const images = rows.map(([a, b]) =>
          minimal
            ? [a, b]
            : [
                { ...a, present: named.map(() => true) },
                { ...b, present: named.map(() => true) },
              ],
        );
        const map = event(EventType.TABLE_MAP, tableMapBody(named, charsets), 4);
        const body = rowsBody(kind, named, images);
        const { ref, got } = bothWays([map, event(ROWS_TYPE[kind], body, 4 + map.length)]);
        assert.deepEqual(got, ref);
      },
    ),
    { numRuns: 1500 },
  );
});

test("damaged rows events: the same lines, then the same error", () => {
  fc.assert(
    fc.property(
      table.chain(([cols, charsets]) =>
        fc.record({
          cols: fc.constant(cols),
          charsets: fc.constant(charsets),
          rows: fc.array(fc.tuple(imageArb(cols), imageArb(cols)), { minLength: 1, maxLength: 3 }),
          cut: fc.integer({ min: 1, max: 40 }),
        }),
      ),
      ({ cols, charsets, rows, cut }) => {
        const images = rows.map(([a, b]) => [
          { ...a, present: cols.map(() => true) },
          { ...b, present: cols.map(() => true) },
        ]);
        const map = event(EventType.TABLE_MAP, tableMapBody(cols, charsets), 4);
        const body = rowsBody("update", cols, images);
        const short = body.slice(0, Math.max(12, body.length - cut));
        const { ref, got } = bothWays([map, event(ROWS_TYPE.update, short, 4 + map.length)]);
        assert.deepEqual(got, ref);
      },
    ),
    { numRuns: 500 },
  );
});

test("rows events of plain tables are written from their bytes, not through the reference path", () => {
  const cols: Col[] = [
    { type: ColumnType.LONG, meta: 0, collation: undefined, unsigned: false, name: "id" },
    { type: ColumnType.VARCHAR, meta: 201, collation: 45, unsigned: false, name: "a" },
  ];
  const decoder = new BinlogEventDecoder({ checksum: 0, flavor: "mariadb", rows: deferredRowsCodec });
  const map = event(EventType.TABLE_MAP, tableMapBody(cols, true), 4);
  decoder.decode(map, { file: "gen-bin.000001", offset: 4 });
  const image = { present: [true, true], cells: [[7, 0, 0, 0], [...Buffer.from('x"y')]] };
  const rows = event(EventType.WRITE_ROWS_V1, rowsBody("write", cols, [[image]]), 4 + map.length);
  const ev = decoder.decode(rows, { file: "gen-bin.000001", offset: 4 + map.length });
  const frame = "rows" in ev && ev.rows ? deferredRowsFrame(ev.rows) : undefined;
  assert.ok(frame !== undefined, "rows left undecoded");
  const sink = new JsonlSink();
  assert.equal(writeRowsEventJson(ev, frame, sink), true);
  assert.match(sink.take().toString(), /"rows":\[\{"after":\{"id":7,"a":"x\\"y"\}\}\]\}$/);
});

test("annotated statements (MARIADB_ANNOTATE_ROWS) written from their bytes: the reference line", () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.string({ unit: "grapheme", maxLength: 300 }).map((t) => new Uint8Array(Buffer.from(t))),
    fc.string({ unit: "binary", maxLength: 300 }).map((t) => new Uint8Array(Buffer.from(t))),
  );
  fc.assert(
    fc.property(
      bytes,
      fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: undefined }),
      (text, seq) => {
        const events = [event(EventType.MARIADB_ANNOTATE_ROWS, [...text], 4)];
        // (a GTID before it gives the line its "gtid" field)
        if (seq !== undefined)
          events.unshift(event(EventType.MARIADB_GTID, [...le(seq, 4), 0, 0, 0, 0, 0, 0, 0, 0, 0], 4));
        const where = { file: "gen-bin.000001", offset: 4 };
        const ref = new BinlogEventDecoder({ checksum: 0, flavor: "mariadb" });
        const fast = new BinlogEventDecoder({
          checksum: 0,
          flavor: "mariadb",
          ...decoderOptionsFor("jsonl"),
        });
        const sink = new JsonlSink(16);
        for (const e of events) {
          const want = reference(ref.decode(e, where));
          writeJsonLine(fast.decode(e, where), sink);
          assert.equal(sink.take().toString("utf8"), want);
        }
      },
    ),
    { numRuns: 400 },
  );
});

test("a line longer than the sink's buffer grows it; take and recycle hand out exact bytes", () => {
  const sink = new JsonlSink(8);
  sink.string("é".repeat(100));
  sink.byte(0x0a);
  const a = sink.take();
  assert.equal(a.toString("utf8"), `${"é".repeat(100)}\n`);
  sink.recycle();
  sink.jsonString('a"b');
  assert.equal(sink.take().toString("utf8"), '"a\\"b"');
});

test("events of integer and boolean fields (XID, GTID...) written without an object: the reference line", () => {
  const base = {
    header: { timestamp: 1700000000, serverId: 1, typeCode: 16, eventSize: 31, logPos: 0, flags: 0 },
    position: { file: "mariadb-bin.000001", offset: 1234, next: 1265 },
  };
  const events = [
    { ...base, type: "xid", xid: 42n, gtid: "0-1-7" },
    { ...base, type: "xid", xid: 0n },
    // beyond 2^53: a string, through the reference path
    { ...base, type: "xid", xid: 2n ** 63n + 5n },
    { ...base, type: "xid", xid: -(2n ** 53n) + 1n },
    { ...base, type: "mariadb_gtid", seqNo: 7n, domainId: 0, flags: 12, standalone: false, commitId: 99n },
    { ...base, type: "intvar", kind: "insert_id", value: 5n },
    { ...base, type: "stop" },
    { ...base, type: "xid", xid: 1n, extra: undefined, negative: -12, zero: -0, yes: true },
    // keys an object would place elsewhere, or a value that is not an integer
    { ...base, type: "xid", xid: 1n, timestamp: 5 },
    { ...base, type: "xid", xid: 1n, "7": 1 },
    { ...base, type: "xid", xid: 1n, ratio: 0.5 },
    { ...base, type: "xid", xid: 1n, big: 2 ** 60 },
    { ...base, type: "xid", xid: 1n, name: "x" },
  ] as unknown as BinlogEvent[];
  for (const ev of events) {
    const sink = new JsonlSink(16);
    writeJsonLine(ev, sink);
    assert.equal(sink.take().toString("utf8"), `${JSON.stringify(eventToJson(ev))}\n`);
  }
});
