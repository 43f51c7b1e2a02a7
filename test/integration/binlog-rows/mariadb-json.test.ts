// MariaDB JSON columns (an alias of LONGTEXT with a json_valid CHECK) through a sandboxed MariaDB:
// with the schema resolver their cells are the documents SELECT returns, in FULL and MINIMAL row
// metadata and across ALTER TABLE; a plain LONGTEXT holding the same text stays a string.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type RowsEvent, rowsEventToJson } from "../../../src/codecs/binlog/rows/index.ts";
import { SchemaResolver } from "../../../src/sources/schema/index.ts";
import { decodeDir, snapshot, useSandbox } from "./harness.ts";

const env = useSandbox({ binlogRowMetadata: "FULL", binlogRowImage: "FULL" });

/** A document and how it must come out: parsed ("doc"), or kept as the server's text ("text"). */
const DOCS: Array<[text: string, out: "doc" | "text"]> = [
  ["{}", "doc"],
  ["[]", "doc"],
  ['{"a": 1, "b": [true, false, null], "c": {"d": {"e": [1, [2, [3, {}]]]}}}', "doc"],
  ['"é😀 \\u00e9 \\ud83d\\ude00 ü"', "doc"],
  ['{"q": "say \\"hi\\"", "bs": "a\\\\b", "nl": "x\\ny\\tz", "ctl": "\\u0001"}', "doc"],
  ['{"ключ": "значение", "emoji 😀": ["日本語"]}', "doc"],
  ["[1.50, 0.1, -0, 1E2, 3.0e-5, -7, 9007199254740991]", "doc"],
  ["true", "doc"],
  ["false", "doc"],
  ["null", "doc"],
  ["42", "doc"],
  ['  {"sp" :\n  1 ,"t":[ ] }  ', "doc"],
  ['{"10": "a", "2": "b", "x": "c"}', "doc"],
  // numbers a double cannot carry, and duplicate keys: the text, exactly
  ['{"big": 12345678901234567890}', "text"],
  ["[9007199254740993]", "text"],
  ["-9223372036854775809", "text"],
  ['{"x": 1e400}', "text"],
  ['{"d": 0.12345678901234567890123}', "text"],
  ['{"a": 1, "a": 2}', "text"],
];

interface Check {
  id: number;
  column: string;
  want: "doc" | "text" | "string";
}

/** Compares each checked cell of the decoded images with the server's SELECT text. */
function checkImages(
  events: RowsEvent[],
  table: string,
  server: Map<number, Record<string, Buffer | null>>,
  checks: Check[],
) {
  const seen = new Set<string>();
  for (const ev of events.filter((e) => e.table.table === table)) {
    for (const row of rowsEventToJson(ev).rows) {
      const image = row.after ?? row.before!;
      const id = image.id as number;
      for (const c of checks.filter((k) => k.id === id)) {
        if (!(c.column in image)) continue;
        const got = image[c.column];
        const raw = server.get(id)?.[c.column];
        assert.ok(raw !== undefined && raw !== null, `${table} id=${id} ${c.column}: server value`);
        const text = raw.toString("utf8");
        const where = `${table} id=${id} ${c.column} ${text}`;
        if (c.want === "doc") {
          assert.deepEqual(got, JSON.parse(text), where);
          // as written in a JSON line: the same values (JSON has one zero: -0 is written 0)
          const zero = (_k: string, v: unknown) => (Object.is(v, -0) ? 0 : v);
          assert.deepEqual(
            JSON.parse(JSON.stringify(got)),
            JSON.parse(text, zero),
            `${where}: written as JSON`,
          );
        } else assert.equal(got, text, where);
        seen.add(`${id}.${c.column}`);
      }
    }
  }
  assert.equal(seen.size, checks.length, `${table}: every checked cell was in the binlog`);
}

async function resolverRead(from?: { file: string; offset: number }) {
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  try {
    return await decodeDir(env.sandbox.binlogDir, {
      names: resolver,
      beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
      onQuery: (sql, db, at) => void resolver.noteQuery(sql, db, at),
      ...(from ? { from } : {}),
    });
  } finally {
    await resolver.close();
  }
}

for (const metadata of ["FULL", "MINIMAL"] as const) {
  test(`${metadata} metadata: JSON documents decode to what SELECT returns; LONGTEXT stays a string`, async () => {
    await env.conn.query(`SET GLOBAL binlog_row_metadata = '${metadata}'`);
    const table = `tj_${metadata.toLowerCase()}`;
    await env.conn.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, j JSON, lt LONGTEXT, jn JSON)`);
    const checks: Check[] = [];
    for (const [i, [doc, out]] of DOCS.entries()) {
      await env.conn.query(`INSERT INTO ${table} VALUES (?, ?, ?, NULL)`, [i + 1, doc, doc]);
      checks.push({ id: i + 1, column: "j", want: out }, { id: i + 1, column: "lt", want: "string" });
    }
    // Text that is not JSON in a JSON column (checks off): the string, no error.
    const bad = DOCS.length + 1;
    await env.conn.query("SET SESSION check_constraint_checks = OFF");
    await env.conn.query(`INSERT INTO ${table} VALUES (?, ?, ?, ?)`, [bad, "{not json", "x", "[1,"]);
    await env.conn.query("SET SESSION check_constraint_checks = ON");
    checks.push({ id: bad, column: "j", want: "text" }, { id: bad, column: "jn", want: "text" });
    const server = await snapshot(env.conn, table);
    await env.conn.query(`SET GLOBAL binlog_row_metadata = 'FULL'`);

    const { rows } = await resolverRead();
    const events = rows.filter((e) => e.table.table === table);
    assert.equal(
      events[0]!.table.optionalMetadata.includes(4),
      metadata === "FULL",
      "COLUMN_NAME metadata only with FULL",
    );
    const cols = events[0]!.table.columns;
    assert.deepEqual(
      cols.map((c) => c.dataType),
      ["int", "json", "longtext", "json"],
    );
    checkImages(events, table, server, checks);
    // SQL NULL in a JSON column is null; the JSON literal null is the document null (both null in JSON)
    const first = rowsEventToJson(events[0]!).rows[0]!.after!;
    assert.equal(first.jn, null);
  });
}

test("ALTER TABLE mid-stream: ADD COLUMN ... JSON, MODIFY to JSON and back, followed in stream order", async () => {
  await env.conn.query(`SET GLOBAL binlog_row_metadata = 'MINIMAL'`);
  try {
    await env.conn.query("CREATE TABLE ta (id INT PRIMARY KEY, a LONGTEXT)");
    const resolver = await SchemaResolver.connect(env.sandbox.url);
    let from: { file: string; offset: number } | undefined;
    const follow = async () => {
      const out = await decodeDir(env.sandbox.binlogDir, {
        names: resolver,
        beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
        onQuery: (sql, db, at) => void resolver.noteQuery(sql, db, at),
        ...(from ? { from } : {}),
      });
      from = out.end;
      return out.rows.filter((e) => e.table.table === "ta");
    };
    try {
      await follow();
      const doc = '{"v": [1, "two"]}';
      const steps: Array<{ ddl?: string; dml: string; checks: Check[] }> = [
        { dml: `INSERT INTO ta VALUES (1, '${doc}')`, checks: [{ id: 1, column: "a", want: "string" }] },
        {
          ddl: "ALTER TABLE ta ADD COLUMN k JSON",
          dml: `INSERT INTO ta VALUES (2, '${doc}', '${doc}')`,
          checks: [
            { id: 2, column: "a", want: "string" },
            { id: 2, column: "k", want: "doc" },
          ],
        },
        {
          ddl: "ALTER TABLE ta MODIFY a JSON",
          dml: `INSERT INTO ta VALUES (3, '${doc}', '[true]')`,
          checks: [
            { id: 3, column: "a", want: "doc" },
            { id: 3, column: "k", want: "doc" },
          ],
        },
        {
          ddl: "ALTER TABLE ta MODIFY k LONGTEXT",
          dml: "UPDATE ta SET k = '{\"n\": 1}' WHERE id = 3",
          checks: [
            { id: 3, column: "a", want: "doc" },
            { id: 3, column: "k", want: "string" },
          ],
        },
      ];
      for (const [n, step] of steps.entries()) {
        if (step.ddl) await env.conn.query(step.ddl);
        await env.conn.query(step.dml);
        const server = await snapshot(env.conn, "ta");
        const events = await follow();
        assert.equal(events.length, 1, `step ${n}: one rows event`);
        checkImages(events, "ta", server, step.checks);
      }
    } finally {
      await resolver.close();
    }
  } finally {
    await env.conn.query(`SET GLOBAL binlog_row_metadata = 'FULL'`);
  }
});
