// MariaDB JSON columns (LONGTEXT + json_valid CHECK): how the resolver recognises them from
// information_schema.CHECK_CONSTRAINTS, and how their text becomes the output contract's JSON.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { cellToJson, cellToText, mariadbJsonToJson } from "../../../../src/codecs/binlog/rows/output.ts";
import { type ColumnDef, ColumnType } from "../../../../src/codecs/binlog/rows/types.ts";
import {
  ddlTargets,
  jsonCheckColumn,
  markJsonColumns,
  SchemaResolver,
} from "../../../../src/sources/schema/index.ts";

function blobColumn(dataType: string | undefined): ColumnDef {
  return {
    index: 0,
    type: ColumnType.BLOB,
    realType: ColumnType.BLOB,
    meta: 4,
    nullable: true,
    name: "j",
    unsigned: undefined,
    collation: 46,
    charset: "utf8mb4",
    labels: undefined,
    geometryType: undefined,
    visible: undefined,
    dataType,
    decimals: undefined,
  };
}

test("jsonCheckColumn: the column of a json_valid CHECK as MariaDB prints it, nothing else", () => {
  assert.equal(jsonCheckColumn("json_valid(`j`)"), "j");
  assert.equal(jsonCheckColumn("json_valid(`a``b`)"), "a`b");
  assert.equal(jsonCheckColumn(" JSON_VALID ( `j-x` ) "), "j-x");
  assert.equal(jsonCheckColumn("json_valid(`j`) or `j` is null"), undefined);
  assert.equal(jsonCheckColumn("json_valid(concat(`a`,`b`))"), undefined);
  assert.equal(jsonCheckColumn("`n` > 0"), undefined);
});

test("DDL that makes a column JSON or not closes the table's version", () => {
  for (const sql of [
    "ALTER TABLE t ADD COLUMN j JSON",
    "ALTER TABLE t MODIFY lt JSON",
    "ALTER TABLE t MODIFY j LONGTEXT",
    "ALTER TABLE t CHANGE j j2 LONGTEXT",
    "ALTER TABLE t DROP CONSTRAINT j",
    "ALTER TABLE t DROP CHECK j",
    "ALTER TABLE t ADD CONSTRAINT c CHECK (json_valid(`lt`))",
  ])
    assert.deepEqual(ddlTargets(sql, "db"), [{ schema: "db", table: "t" }], sql);
});

test("markJsonColumns: only text columns named by a json_valid CHECK become json", () => {
  const cols = [
    { name: "id", ordinal: 1, dataType: "int", unsigned: false },
    { name: "J", ordinal: 2, dataType: "longtext", unsigned: false, charset: "utf8mb4" },
    { name: "lt", ordinal: 3, dataType: "longtext", unsigned: false, charset: "utf8mb4" },
    { name: "n", ordinal: 4, dataType: "int", unsigned: false },
  ];
  const out = markJsonColumns(cols, [
    { clause: "json_valid(`j`)" },
    { clause: Buffer.from("json_valid(`n`)") },
    { clause: "`lt` <> ''" },
  ]);
  assert.deepEqual(
    out.map((c) => c.dataType),
    ["int", "json", "longtext", "int"],
  );
  assert.equal(out[1]!.charset, "utf8mb4");
  assert.equal(cols[1]!.dataType, "longtext", "the input is not changed");
});

test("the resolver asks CHECK_CONSTRAINTS only for tables with text columns, and stops on servers without it", async () => {
  const asked: string[] = [];
  let checks: "rows" | "no-view" = "rows";
  const resolver = new SchemaResolver(async (sql) => {
    asked.push(/CHECK_CONSTRAINTS/.test(sql) ? "checks" : "columns");
    if (/CHECK_CONSTRAINTS/.test(sql)) {
      if (checks === "no-view")
        throw Object.assign(new Error("Unknown table 'CHECK_CONSTRAINTS' in information_schema"), {
          errno: 1109,
        });
      return [{ clause: "json_valid(`j`)" }];
    }
    return [
      { name: "id", ordinal: 1, dataType: "int", columnType: "int(11)" },
      { name: "j", ordinal: 2, dataType: "longtext", columnType: "longtext", charset: "utf8mb4" },
    ];
  });
  const at = { file: "b.000001", offset: 4 };
  await resolver.prepare("s", "t", at);
  assert.deepEqual(
    resolver.columnsAt("s", "t", at)!.map((c) => c.dataType),
    ["int", "json"],
  );
  assert.deepEqual(asked, ["columns", "checks"]);
  assert.equal(resolver.fetches, 1);

  checks = "no-view";
  resolver.noteQuery("ALTER TABLE t MODIFY j LONGTEXT", "s", { file: "b.000001", offset: 100 });
  const later = { file: "b.000001", offset: 200 };
  await resolver.prepare("s", "t", later);
  assert.deepEqual(
    resolver.columnsAt("s", "t", later)!.map((c) => c.dataType),
    ["int", "longtext"],
  );
  resolver.noteQuery("ALTER TABLE t ADD k INT", "s", { file: "b.000001", offset: 300 });
  asked.length = 0;
  await resolver.prepare("s", "t", { file: "b.000001", offset: 400 });
  assert.deepEqual(asked, ["columns"], "a server without the view is not asked again");
  // the earlier version still says json: events before the ALTER keep it
  assert.equal(resolver.columnsAt("s", "t", at)![1]!.dataType, "json");
});

test("the resolver passes on other CHECK_CONSTRAINTS errors", async () => {
  const resolver = new SchemaResolver(async (sql) => {
    if (/CHECK_CONSTRAINTS/.test(sql)) throw Object.assign(new Error("Lost connection"), { errno: 2013 });
    return [{ name: "t", ordinal: 1, dataType: "text", columnType: "text" }];
  });
  await assert.rejects(resolver.prepare("s", "t", { file: "b.000001", offset: 4 }), /Lost connection/);
});

test("MariaDB JSON text: documents whose values survive JSON come out parsed", () => {
  const cases: Array<[string, unknown]> = [
    ["{}", {}],
    ["[]", []],
    [
      '{"a": [1, 2.5, "x", null, true, false], "b": {"c": "é"}}',
      { a: [1, 2.5, "x", null, true, false], b: { c: "é" } },
    ],
    ['  {"a" :\n 1 }  ', { a: 1 }],
    ['"str"', "str"],
    ['"say \\"hi\\" \\\\ \\u00e9\\ud83d\\ude00"', 'say "hi" \\ é😀'],
    ["true", true],
    ["null", null],
    ["42", 42],
    [
      "[1.50, -0, 1E2, 0.1, 9007199254740992e0, 1e21, 123456789012345]",
      [1.5, -0, 100, 0.1, 9007199254740992, 1e21, 123456789012345],
    ],
    ['{"1": "a", "b": 2, "__proto__": 3}', JSON.parse('{"1": "a", "b": 2, "__proto__": 3}')],
    ['{"k": "12345678901234567890"}', { k: "12345678901234567890" }],
  ];
  for (const [text, want] of cases) assert.deepEqual(mariadbJsonToJson(text), want, text);
  // one more than 2^53: a double cannot hold it
  assert.equal(mariadbJsonToJson("[9007199254740993]"), "[9007199254740993]");
});

test("MariaDB JSON text: kept as the text when JSON would change it", () => {
  for (const text of [
    '{"big": 12345678901234567890}',
    "12345678901234567890",
    "[-9223372036854775808]",
    '{"x": 1e400}',
    '{"x": -1e-400}',
    "[0.1000000000000000055511151231257827]",
    '{"a": 1, "a": 2}',
    '{"o": {"a": 1}, "p": {"a": 1, "a": 1}}',
    "not json",
    "{'a': 1}",
    "",
  ])
    assert.equal(mariadbJsonToJson(text), text, text);
});

test("cellToJson: a string cell of a json column is the document; of other text columns a string", () => {
  assert.deepEqual(cellToJson('{"a": [1]}', blobColumn("json")), { a: [1] });
  assert.equal(cellToJson('{"a": [1]}', blobColumn("longtext")), '{"a": [1]}');
  assert.equal(cellToJson('{"a": [1]}', blobColumn(undefined)), '{"a": [1]}');
  assert.equal(cellToJson("{broken", blobColumn("json")), "{broken");
  assert.equal(cellToText('{"a": "x"}', blobColumn("json")), `'{"a": "x"}'`);
});

/** The integer a number's JSON text (`123`, `1.1805916207174113e+21`) denotes, if it is one. */
function integerOfText(s: string): bigint | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e\+?(\d+))?$/.exec(s);
  if (!m) return undefined;
  const frac = m[3] ?? "";
  const shift = Number(m[4] ?? 0) - frac.length;
  if (shift < 0) return undefined;
  const v = BigInt(m[2]! + frac) * 10n ** BigInt(shift);
  return m[1] ? -v : v;
}

test("MariaDB JSON text: random documents come out as the same value; integers exact or kept as text", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
      const text = JSON.stringify(value, null, pretty ? 2 : undefined) ?? "null";
      assert.deepEqual(mariadbJsonToJson(text), JSON.parse(text));
    }),
  );
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }), (n) => {
      const text = `{"n": ${n}}`;
      const out = mariadbJsonToJson(text);
      // exact when the number JSON writes for the double is the same integer, else the text
      if (integerOfText(String(Number(n))) === n) assert.equal(JSON.stringify(out), `{"n":${Number(n)}}`);
      else assert.equal(out, text);
    }),
  );
});
