// Column value decoders on bytes built by hand, and round-trip properties against test-only encoders.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { charsetOfCollation, decodeText } from "../../../../src/codecs/binlog/rows/charsets.ts";
import { decimalBinarySize, decodeDecimal } from "../../../../src/codecs/binlog/rows/decimal.ts";
import { formatJsonDouble, jsonBinaryToText } from "../../../../src/codecs/binlog/rows/json-binary.ts";
import { applyJsonDiffs } from "../../../../src/codecs/binlog/rows/json-diff.ts";
import { formatInet4, formatInet6, formatUuid } from "../../../../src/codecs/binlog/rows/mariadb-types.ts";
import { formatFloat32 } from "../../../../src/codecs/binlog/rows/output.ts";
import {
  decodeDate,
  decodeDatetime2,
  decodeDatetimeOld,
  decodeTime2,
  decodeTimeOld,
  decodeTimestamp2,
  formatUnixSeconds,
} from "../../../../src/codecs/binlog/rows/temporal.ts";
import { JsonText } from "../../../../src/codecs/binlog/rows/types.ts";
import { encodeDatetime2, encodeDecimal, encodeTime2 } from "./encoders.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ""), "hex");

test("DECIMAL: the MySQL manual's examples, exact", () => {
  // DECIMAL(14,4) 1234567890.1234 and its negative (MySQL decimal2bin documentation).
  assert.equal(decimalBinarySize(14, 4), 7);
  assert.equal(decodeDecimal(hex("810DFB38D204D2"), 0, 14, 4), "1234567890.1234");
  assert.equal(decodeDecimal(hex("7EF204C72DFB2D"), 0, 14, 4), "-1234567890.1234");
  assert.equal(decodeDecimal(encodeDecimal("0", 10, 2), 0, 10, 2), "0.00");
  assert.equal(decodeDecimal(encodeDecimal("-0.5", 5, 5), 0, 5, 5), "-0.50000");
  assert.equal(decodeDecimal(encodeDecimal("42", 18, 0), 0, 18, 0), "42");
});

test("DECIMAL: random values round-trip exactly for every precision and scale", () => {
  const arb = fc
    .tuple(fc.integer({ min: 1, max: 65 }), fc.integer({ min: 0, max: 30 }))
    .filter(([p, s]) => s <= p)
    .chain(([p, s]) =>
      fc.tuple(
        fc.constant(p),
        fc.constant(s),
        fc.boolean(),
        fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: p - s, maxLength: p - s }),
        fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: s, maxLength: s }),
      ),
    );
  fc.assert(
    fc.property(arb, ([p, s, neg, ip, fp]) => {
      const intPart = ip.replace(/^0+/, "") || "0";
      const text = s > 0 ? `${intPart}.${fp}` : intPart;
      const zero = !/[1-9]/.test(text);
      const want = neg && !zero ? `-${text}` : text;
      const bin = encodeDecimal(want, p, s);
      assert.equal(bin.length, decimalBinarySize(p, s));
      assert.equal(decodeDecimal(Buffer.concat([Buffer.from([0xaa]), bin]), 1, p, s), want);
    }),
    { numRuns: 500 },
  );
});

test("DATE, old TIME and DATETIME", () => {
  // 2024-02-29: day 29 | month 2 << 5 | year 2024 << 9
  const v = 29 | (2 << 5) | (2024 << 9);
  assert.equal(decodeDate(Buffer.from([v & 0xff, (v >> 8) & 0xff, v >> 16]), 0), "2024-02-29");
  assert.equal(decodeDate(Buffer.alloc(3), 0), "0000-00-00");
  const t = Buffer.alloc(3);
  t.writeIntLE(-8385959, 0, 3);
  assert.equal(decodeTimeOld(t, 0), "-838:59:59");
  const dt = Buffer.alloc(8);
  dt.writeBigUInt64LE(99991231235959n);
  assert.equal(decodeDatetimeOld(dt, 0), "9999-12-31 23:59:59");
  assert.equal(decodeDatetimeOld(Buffer.alloc(8), 0), "0000-00-00 00:00:00");
});

test("TIME2: negative, over 24 hours, every fraction width", () => {
  assert.equal(decodeTime2(encodeTime2(true, 838, 59, 59, 0, 0), 0, 0), "-838:59:59");
  assert.equal(decodeTime2(encodeTime2(false, 838, 59, 59, 999999, 6), 0, 6), "838:59:59.999999");
  assert.equal(decodeTime2(encodeTime2(true, 0, 0, 0, 500000, 1), 0, 1), "-00:00:00.5");
  assert.equal(decodeTime2(encodeTime2(true, 1, 2, 3, 4000, 3), 0, 3), "-01:02:03.004");
  assert.equal(decodeTime2(encodeTime2(true, 0, 0, 0, 100, 4), 0, 4), "-00:00:00.0001");
});

const timeArb = fc.record({
  neg: fc.boolean(),
  h: fc.integer({ min: 0, max: 838 }),
  mi: fc.integer({ min: 0, max: 59 }),
  s: fc.integer({ min: 0, max: 59 }),
  fsp: fc.integer({ min: 0, max: 6 }),
  usec: fc.integer({ min: 0, max: 999999 }),
});

function truncUsec(usec: number, fsp: number): number {
  const unit = 10 ** (6 - fsp);
  // Stored precision is per byte pair: fsp 1-2 in 1/100 s, 3-4 in 1/10000 s.
  return Math.floor(usec / unit) * unit;
}

function frac(usec: number, fsp: number): string {
  return fsp === 0 ? "" : `.${String(usec).padStart(6, "0").slice(0, fsp)}`;
}

const p2 = (n: number) => String(n).padStart(2, "0");

test("TIME2: random durations round-trip through the server's packing", () => {
  fc.assert(
    fc.property(timeArb, ({ neg, h, mi, s, fsp, usec }) => {
      const u = truncUsec(usec, fsp);
      const zero = h === 0 && mi === 0 && s === 0 && u === 0;
      const text = `${neg && !zero ? "-" : ""}${p2(h)}:${p2(mi)}:${p2(s)}${frac(u, fsp)}`;
      assert.equal(decodeTime2(encodeTime2(neg && !zero, h, mi, s, u, fsp), 0, fsp), text);
    }),
    { numRuns: 1000 },
  );
});

test("DATETIME2: random values round-trip, zero date, fraction digits exactly the column's", () => {
  assert.equal(decodeDatetime2(encodeDatetime2(0, 0, 0, 0, 0, 0, 0, 3), 0, 3), "0000-00-00 00:00:00.000");
  fc.assert(
    fc.property(
      fc.record({
        y: fc.integer({ min: 0, max: 9999 }),
        mo: fc.integer({ min: 0, max: 12 }),
        d: fc.integer({ min: 0, max: 31 }),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
        fsp: fc.integer({ min: 0, max: 6 }),
        usec: fc.integer({ min: 0, max: 999999 }),
      }),
      ({ y, mo, d, h, mi, s, fsp, usec }) => {
        const u = truncUsec(usec, fsp);
        const want = `${String(y).padStart(4, "0")}-${p2(mo)}-${p2(d)} ${p2(h)}:${p2(mi)}:${p2(s)}${frac(u, fsp)}`;
        assert.equal(decodeDatetime2(encodeDatetime2(y, mo, d, h, mi, s, u, fsp), 0, fsp), want);
      },
    ),
    { numRuns: 1000 },
  );
});

test("TIMESTAMP2 and unix seconds in UTC", () => {
  assert.equal(formatUnixSeconds(0, 0, 0), "0000-00-00 00:00:00");
  assert.equal(formatUnixSeconds(0, 0, 2), "0000-00-00 00:00:00.00");
  assert.equal(formatUnixSeconds(2147483647, 0, 0), "2038-01-19 03:14:07");
  assert.equal(formatUnixSeconds(951782400, 0, 0), "2000-02-29 00:00:00");
  const b = Buffer.alloc(7);
  b.writeUInt32BE(1704164645, 0);
  b.writeUIntBE(678900, 4, 3);
  assert.equal(decodeTimestamp2(b, 0, 6), "2024-01-02 03:04:05.678900");
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 32 - 1 }), (sec) => {
      const iso = new Date(sec * 1000).toISOString().replace("T", " ").slice(0, 19);
      assert.equal(formatUnixSeconds(sec, 0, 0), iso);
    }),
  );
});

test("FLOAT prints the shortest text that reads back as the same single-precision value", () => {
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: the literal is the FLOAT the server stores, not an approximation of PI
  assert.equal(formatFloat32(Math.fround(3.1415927)), "3.1415927");
  assert.equal(formatFloat32(Math.fround(0.1)), "0.1");
  assert.equal(formatFloat32(Math.fround(16777217)), "16777216");
  assert.equal(formatFloat32(Math.fround(3.40282e38)), "3.40282e+38");
  fc.assert(
    fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
      assert.ok(Math.fround(Number(formatFloat32(f))) === f, `${f}`);
    }),
  );
});

test("MySQL binary JSON: scalars, small and large containers, opaque values", () => {
  const doc = (s: string) => jsonBinaryToText(hex(s), 0, hex(s).length, () => ({}));
  assert.equal(doc(""), "null");
  assert.equal(doc("0401"), "true");
  assert.equal(doc("05ffff"), "-1");
  assert.equal(doc("0a ffffffffffffffff"), "18446744073709551615");
  assert.equal(doc("0b 000000000000f03f"), "1.0");
  assert.equal(doc("0c 03 616263"), '"abc"');
  // small object {"a": 1}: count 1, size 12, key entry (off 11, len 1), value entry (int16 inline 1)
  assert.equal(doc("00 0100 0c00 0b00 0100 05 0100 61"), '{"a": 1}');
  // large array [true, "x"]: count 2, size, 2 value entries of 5 bytes, then the string
  assert.equal(doc("03 02000000 14000000 04 01000000 0c 12000000 01 78"), '[true, "x"]');
  // opaque DECIMAL(4,2) 12.34 and DATE 2012-03-18
  assert.equal(doc(`0f f6 04 0402 ${encodeDecimal("12.34", 4, 2).toString("hex")}`), "12.34");
  assert.throws(() => doc("00 0100 ff00"), { name: "SluiceError", code: "BINLOG_BAD_JSON" });
});

test("MariaDB UUID, INET4 and INET6 print as the server prints them", () => {
  // Time-based UUIDs are stored with their segments swapped (sorting by time).
  const v1 = "6ccd780c-baba-1026-9564-5b8c656024db";
  const h = v1.replaceAll("-", "");
  const rec = Buffer.from(
    h.slice(16, 20) + h.slice(20) + h.slice(12, 16) + h.slice(8, 12) + h.slice(0, 8),
    "hex",
  );
  assert.equal(formatUuid(rec, 0), v1);
  assert.equal(formatUuid(Buffer.alloc(16), 0), "00000000-0000-0000-0000-000000000000");
  assert.equal(formatInet4(Buffer.from([10, 1, 2, 3]), 0), "10.1.2.3");
  assert.equal(formatInet6(hex("00000000000000000000ffff01020304"), 0), "::ffff:1.2.3.4");
  assert.equal(formatInet6(hex("00000000000000000000000000000001"), 0), "::1");
  assert.equal(formatInet6(hex("20010db8000000000000000000000001"), 0), "2001:db8::1");
  assert.equal(formatInet6(hex("00010000000000020000000000000003"), 0), "1:0:0:2::3");
});

test("doubles inside MySQL JSON print as my_gcvt prints them", () => {
  const cases: Array<[number, string]> = [
    [1, "1.0"],
    [0.1, "0.1"],
    [-2.5, "-2.5"],
    [100, "100.0"],
    [1e14, "100000000000000.0"],
    [1e15, "1e15"],
    [1.5e16, "1.5e16"],
    [1e-7, "0.0000001"],
    [1e-15, "0.000000000000001"],
    [1e-16, "1e-16"],
    [1.7976931348623157e308, "1.7976931348623157e308"],
  ];
  for (const [d, text] of cases) assert.equal(formatJsonDouble(d), text);
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
      assert.ok(Number(formatJsonDouble(d)) === d);
    }),
  );
});

test("JSON diffs apply like JSON_SET/JSON_REPLACE/JSON_REMOVE, keeping MySQL's key order", () => {
  const t = (text: string) => new JsonText(text);
  assert.equal(
    applyJsonDiffs('{"a": 1, "b": [1, 2, 3]}', [
      { op: "replace", path: "$.b[1]", value: t("20") },
      { op: "insert", path: "$.zz", value: t('"x"') },
      { op: "insert", path: "$.c", value: t("{}") },
      { op: "remove", path: "$.b[0]" },
      { op: "insert", path: "$.b[last]", value: t("null") },
    ]),
    '{"a": 1, "b": [20, null, 3], "c": {}, "zz": "x"}',
  );
  assert.equal(
    applyJsonDiffs('{"k y": {"n": 12345678901234567890}}', [
      { op: "replace", path: '$."k y".n', value: t("true") },
    ]),
    '{"k y": {"n": true}}',
  );
  assert.equal(
    applyJsonDiffs('{"a": 1.50}', [{ op: "insert", path: "$.b", value: t("2") }]),
    '{"a": 1.50, "b": 2}',
  );
  assert.equal(applyJsonDiffs("[1]", [{ op: "replace", path: "$.missing.x", value: t("1") }]), undefined);
});

test("charsets: collation ids of both servers, MySQL's latin1 (cp1252), UTF-16/32", () => {
  assert.equal(charsetOfCollation(45), "utf8mb4");
  assert.equal(charsetOfCollation(255), "utf8mb4"); // MySQL 8 utf8mb4_0900_ai_ci
  assert.equal(charsetOfCollation(33), "utf8mb3");
  assert.equal(charsetOfCollation(8), "latin1");
  assert.equal(charsetOfCollation(63), "binary");
  assert.equal(charsetOfCollation(2048 + 256 + 1), "utf8mb4"); // MariaDB uca1400
  assert.equal(charsetOfCollation(26), "unknown"); // cp1250: kept as bytes
  const latin1 = Buffer.from([0x80, 0x81, 0x8a, 0x9f, 0xe9, 0x41]);
  assert.equal(decodeText(latin1, 0, latin1.length, "latin1"), "€\u0081ŠŸéA");
  assert.equal(decodeText(Buffer.from("d83dde0000e9", "hex"), 0, 6, "utf16"), "😀é");
  assert.equal(decodeText(Buffer.from("0001f600000000e9", "hex"), 0, 8, "utf32"), "😀é");
  assert.equal(decodeText(Buffer.from("00e920ac", "hex"), 0, 4, "ucs2"), "é€");
});

test("damaged UTF-16/UTF-32 bytes decode with U+FFFD instead of throwing", () => {
  assert.equal(decodeText(Buffer.from("00e900", "hex"), 0, 3, "utf16"), "é\ufffd");
  assert.equal(decodeText(Buffer.from("00110000", "hex"), 0, 4, "utf32"), "\ufffd");
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom("utf16", "ucs2", "utf32", "utf16le", "latin1"),
      (b, cs) => {
        decodeText(Buffer.from(b), 0, b.length, cs);
      },
    ),
  );
});

test("binary JSON deeper than MySQL's 100 levels is a SluiceError, not a stack overflow", () => {
  const nested = (depth: number): Buffer => {
    let inner = Buffer.from([0x00, 0x00, 0x04, 0x00]); // [] without its type byte
    for (let i = 0; i < depth; i++) {
      const size = 4 + 3 + inner.length;
      inner = Buffer.concat([Buffer.from([1, 0, size & 0xff, size >> 8, 0x02, 7, 0]), inner]);
    }
    return Buffer.concat([Buffer.from([0x02]), inner]);
  };
  const ok = nested(99);
  assert.equal(jsonBinaryToText(ok, 0, ok.length, () => ({})).length, 100 * 2);
  const deep = nested(150);
  assert.throws(() => jsonBinaryToText(deep, 0, deep.length, () => ({})), {
    code: "BINLOG_BAD_JSON",
    message: /deeper than 100/,
  });
});
