// MariaDB JSON columns (LONGTEXT + json_valid CHECK) through the commands, against a sandboxed
// MariaDB: `binlog stream`, `binlog read --schema-from` and `cdc` print the documents SELECT returns,
// with binlog_row_metadata FULL and MINIMAL; a plain LONGTEXT stays a string; `binlog read` without
// a schema prints the stored text. A table whose JSON-ness changes by DDL while the stream follows
// it is refetched at each change.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";
import { runCollector } from "../../../src/cdc/runner.ts";
import { JsonLinesSink } from "../../../src/sinks/jsonl.ts";
import { FIXTURES } from "../../unit/binlog/helpers.ts";
import { binlogFiles, type ServerRow, snapshot, useSandbox } from "./harness.ts";

const env = useSandbox({ binlogRowMetadata: "FULL", binlogRowImage: "FULL" });
let dir: string;

/** A document and how it must come out: parsed ("doc"), or the server's text exactly ("text"). */
const DOCS: Array<[text: string, out: "doc" | "text"]> = [
  ["{}", "doc"],
  ['{"a": {"b": [1, {"c": null}]}, "t": true, "f": false}', "doc"],
  ["[1, [2, [3, []]], {}]", "doc"],
  ["[1e2, 1.5E-3, -2.5e+10, 6.02e23, 0.1, 1.50, -0]", "doc"],
  ["9007199254740991", "doc"],
  ['"é😀 \\u00e9 \\ud83d\\ude00"', "doc"],
  ['{"ключ": "значение", "日本語": ["😀"], "q": "\\"x\\"\\n"}', "doc"],
  ['{"10": 1, "2": 2, "k": 3}', "doc"],
  ["null", "doc"],
  // the documented fallback: the stored text, exactly
  ['{"big": 12345678901234567890}', "text"],
  ["[9007199254740993, -9223372036854775809]", "text"],
  ['{"x": 1e400}', "text"],
  ['{"pi": 3.14159265358979323846264}', "text"],
  ['{"a": 1, "a": 2}', "text"],
  ['{"o": {"k": "first", "k": "second"}}', "text"],
];
/** Row ids: DOCS in order, then one text that is not JSON (written with check_constraint_checks=OFF). */
const BAD_ID = DOCS.length + 1;
const UPDATED_TO = '{"updated": [1.0, "ü"]}';

function expected(id: number): "doc" | "text" {
  return id === BAD_ID ? "text" : DOCS[id - 1]![1];
}

interface Snapshots {
  /** After the inserts (what writes insert and updates and deletes find). */
  inserted: Map<number, ServerRow>;
  /** After the update and the delete. */
  final: Map<number, ServerRow>;
}
const tables = new Map<string, Snapshots>();
let start = "";

function run(args: string[], extraEnv: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, ["bin/sluice.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_MYSQL_PASSWORD: "", ...extraEnv },
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function sluice(args: string[], extraEnv: Record<string, string> = {}) {
  return run(args, extraEnv)
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The replication account's URL without its password, which goes in SLUICE_MYSQL_PASSWORD. */
function replication(): { url: string; env: Record<string, string> } {
  const u = new URL(env.sandbox.replicationUrl);
  const password = decodeURIComponent(u.password);
  u.password = "";
  return { url: u.toString(), env: { SLUICE_MYSQL_PASSWORD: password } };
}

/** The tables and snapshots, made once by the first test that needs them (after the sandbox is up). */
let setup: Promise<void> | undefined;
function ready(): Promise<void> {
  setup ??= makeTables();
  return setup;
}

async function makeTables(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "sluice-json-cli-"));
  const [st] = await env.sandbox.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  start = `${st!.File}:${st!.Position}`;
  for (const metadata of ["FULL", "MINIMAL"] as const) {
    const table = `tj_${metadata.toLowerCase()}`;
    await env.conn.query(`SET GLOBAL binlog_row_metadata = '${metadata}'`);
    await env.conn.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, j JSON, lt LONGTEXT)`);
    for (const [i, [doc]] of DOCS.entries())
      await env.conn.query(`INSERT INTO ${table} VALUES (?, ?, ?)`, [i + 1, doc, doc]);
    await env.conn.query("SET SESSION check_constraint_checks = OFF");
    await env.conn.query(`INSERT INTO ${table} VALUES (?, ?, ?)`, [BAD_ID, "{not json", "{not json"]);
    await env.conn.query("SET SESSION check_constraint_checks = ON");
    const inserted = await snapshot(env.conn, table);
    await env.conn.query(`UPDATE ${table} SET j = ? WHERE id = 2`, [UPDATED_TO]);
    await env.conn.query(`DELETE FROM ${table} WHERE id = 10`);
    tables.set(table, { inserted, final: await snapshot(env.conn, table) });
  }
  await env.conn.query(`SET GLOBAL binlog_row_metadata = 'FULL'`);
}

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** JSON.parse of the server's text, with JSON's one zero (a -0 in a document is written 0). */
function parseServer(text: string): unknown {
  return JSON.parse(text, (_k, v) => (Object.is(v, -0) ? 0 : v));
}

/** Asserts one image's j and lt against the server's row (`fallback`: every j kept as text). */
function checkImage(image: Record<string, unknown>, server: ServerRow, where: string, fallback = false) {
  const id = image.id as number;
  for (const column of ["j", "lt"]) {
    if (!(column in image)) continue;
    const text = server[column]!.toString("utf8");
    const got = image[column];
    const how =
      column === "lt" || fallback ? "string" : id === 2 && text === UPDATED_TO ? "doc" : expected(id);
    if (how === "doc") assert.deepEqual(got, parseServer(text), `${where} id=${id} ${column} ${text}`);
    else assert.equal(got, text, `${where} id=${id} ${column}: the stored text`);
  }
}

/** Rows of one table from `binlog read`/`binlog stream` JSON lines, checked against the snapshots. */
function checkLines(lines: Array<Record<string, unknown>>, table: string, label: string, fallback = false) {
  const snaps = tables.get(table)!;
  const kinds = new Map<string, number>();
  for (const line of lines) {
    if (line.table !== table || !Array.isArray(line.rows)) continue;
    const type = String(line.type);
    for (const row of line.rows as Array<{
      before?: Record<string, unknown>;
      after?: Record<string, unknown>;
    }>) {
      kinds.set(type, (kinds.get(type) ?? 0) + 1);
      const id = (row.after ?? row.before)!.id as number;
      if (row.before) checkImage(row.before, snaps.inserted.get(id)!, `${label} ${table} before`, fallback);
      if (row.after) {
        const server = type.startsWith("update") ? snaps.final : snaps.inserted;
        checkImage(row.after, server.get(id)!, `${label} ${table} after`, fallback);
      }
    }
  }
  assert.deepEqual(
    [...kinds.entries()].sort(),
    [
      ["delete_rows_v1", 1],
      ["update_rows_v1", 1],
      ["write_rows_v1", BAD_ID],
    ],
    `${label} ${table}: every row change`,
  );
}

test("binlog stream: MariaDB JSON columns are the documents SELECT returns (FULL and MINIMAL metadata)", async () => {
  await ready();
  const r = replication();
  const lines = sluice(["binlog", "stream", r.url, "--start", start, "--until-head"], r.env);
  checkLines(lines, "tj_full", "stream");
  checkLines(lines, "tj_minimal", "stream");
  // MINIMAL: names from information_schema, in the table map line too
  const map = lines.find((l) => l.type === "table_map" && l.table === "tj_minimal");
  assert.deepEqual(map?.columns, ["id", "j", "lt"]);
});

test("binlog read --schema-from: the same documents from the files; text names MINIMAL columns", async () => {
  await ready();
  const r = replication();
  const files = binlogFiles(env.sandbox.binlogDir);
  const lines = sluice(["binlog", "read", "--schema-from", r.url, ...files], r.env);
  checkLines(lines, "tj_full", "read --schema-from");
  checkLines(lines, "tj_minimal", "read --schema-from");
  // --format text: the stored text, under the schema's names
  const text = run(["binlog", "read", "--format", "text", "--schema-from", r.url, ...files], r.env);
  assert.match(text, /INSERT INTO `r`\.`tj_minimal` \(1 row\)\n {2}VALUES id=1, j='\{\}', lt='\{\}'/);
});

test("binlog read without a schema: JSON columns are the stored text; MINIMAL columns are @1, @2, ...", async () => {
  await ready();
  const lines = sluice(["binlog", "read", ...binlogFiles(env.sandbox.binlogDir)]);
  checkLines(lines, "tj_full", "read", true);
  const minimal = lines.find((l) => l.table === "tj_minimal" && l.type === "write_rows_v1") as {
    rows: Array<{ after: Record<string, unknown> }>;
  };
  assert.deepEqual(Object.keys(minimal.rows[0]!.after), ["@1", "@2", "@3"]);
  assert.equal(minimal.rows[0]!.after["@2"], "{}");
});

test("cdc: envelopes carry the documents (FULL and MINIMAL metadata)", async () => {
  await ready();
  const out = join(dir, "changes.jsonl");
  const checkpoints = await CheckpointStore.open(`file:${join(dir, "cp.db")}`);
  const sink = await JsonLinesSink.open(out);
  try {
    await runCollector({
      source: env.sandbox.replicationUrl,
      sink,
      checkpoints,
      start,
      untilHead: true,
      filter: { include: ["r.tj_*"] },
    });
  } finally {
    await sink.close();
    await checkpoints.close();
  }
  const envelopes = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map(
      (l) =>
        JSON.parse(l) as {
          table: string;
          kind: string;
          before?: Record<string, unknown>;
          after?: Record<string, unknown>;
        },
    );
  for (const table of ["tj_full", "tj_minimal"]) {
    const snaps = tables.get(table)!;
    const mine = envelopes.filter((e) => e.table === table);
    assert.deepEqual(
      mine.map((e) => e.kind).sort(),
      [...Array(BAD_ID).fill("insert"), "update", "delete"].sort(),
      `cdc ${table}: every row change`,
    );
    for (const e of mine) {
      const id = (e.after ?? e.before)!.id as number;
      if (e.before) checkImage(e.before, snaps.inserted.get(id)!, `cdc ${table} before`);
      if (e.after)
        checkImage(
          e.after,
          (e.kind === "update" ? snaps.final : snaps.inserted).get(id)!,
          `cdc ${table} after`,
        );
    }
  }
});

test("binlog read --schema-from on a MySQL binlog: native JSON (type 245) prints as it does without a schema", async () => {
  await ready();
  // json-opaque.binlog: MySQL 8, FULL metadata, `foo.test (a json)`; the schema server has the same table
  await env.conn.query("CREATE DATABASE foo");
  await env.conn.query("CREATE TABLE foo.test (a JSON)");
  const file = join(FIXTURES, "json-opaque.binlog");
  const plain = sluice(["binlog", "read", file]);
  const r = replication();
  const withSchema = sluice(["binlog", "read", "--schema-from", r.url, file], r.env);
  assert.deepEqual(withSchema, plain);
  assert.ok(plain.filter((l) => l.table === "test" && Array.isArray(l.rows)).length >= 8);
});

/** A `binlog stream` that follows the server; its lines as they come. */
function follow(from: string): {
  child: ChildProcess;
  next: (pred: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
} {
  const r = replication();
  const child = spawn(process.execPath, ["bin/sluice.js", "binlog", "stream", r.url, "--start", from], {
    env: { ...process.env, SLUICE_FROM_SOURCE: "1", ...r.env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    async next(pred) {
      for (;;) {
        const { value, done } = await lines.next();
        assert.ok(!done, "the stream ended early");
        const line = JSON.parse(value as string) as Record<string, unknown>;
        if (pred(line)) return line;
      }
    },
  };
}

test("binlog stream following DDL (FULL metadata): a LONGTEXT that a CHECK makes JSON and back", async () => {
  await ready();
  const [st] = await env.sandbox.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  await env.conn.query(
    "CREATE TABLE r.tc (id INT PRIMARY KEY, c LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
  );
  const stream = follow(`${st!.File}:${st!.Position}`);
  try {
    const steps: Array<[ddl: string | undefined, doc: string, want: "doc" | "text"]> = [
      [undefined, "[1]", "text"],
      ["ALTER TABLE r.tc ADD CONSTRAINT is_json CHECK (json_valid(c))", '{"n": [2]}', "doc"],
      ["ALTER TABLE r.tc DROP CONSTRAINT is_json", "[3]", "text"],
      ["ALTER TABLE r.tc MODIFY c JSON", '{"n": 4}', "doc"],
    ];
    for (const [n, [ddl, doc, want]] of steps.entries()) {
      if (ddl) await env.conn.query(ddl);
      await env.conn.query("INSERT INTO r.tc VALUES (?, ?)", [n + 1, doc]);
      const map = await stream.next((l) => l.type === "table_map" && l.table === "tc");
      assert.deepEqual(map.columns, ["id", "c"]);
      const line = (await stream.next((l) => l.table === "tc" && Array.isArray(l.rows))) as {
        rows: Array<{ after: { id: number; c: unknown } }>;
      };
      const after = line.rows[0]!.after;
      assert.equal(after.id, n + 1);
      if (want === "doc") assert.deepEqual(after.c, JSON.parse(doc), `step ${n}`);
      else assert.equal(after.c, doc, `step ${n}: a string`);
    }
  } finally {
    stream.child.kill();
  }
});

test("binlog stream --schema-from a server that does not answer: SCHEMA_QUERY_FAILED naming --no-schema", async () => {
  await ready();
  const r = replication();
  const failed = spawnSync(
    process.execPath,
    [
      "bin/sluice.js",
      "binlog",
      "stream",
      r.url,
      "--start",
      start,
      "--until-head",
      "--schema-from",
      "mysql://nobody@127.0.0.1:1",
    ],
    { encoding: "utf8", env: { ...process.env, SLUICE_FROM_SOURCE: "1", ...r.env }, timeout: 120_000 },
  );
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /SCHEMA_QUERY_FAILED/);
  assert.match(failed.stderr, /--no-schema/);
});

// Last: it leaves MINIMAL table maps that no longer match the table, which a schema cannot read.
test("binlog stream, MINIMAL metadata, a table changed since: SCHEMA_MISMATCH naming --no-schema; --no-schema prints @1, @2", async () => {
  await ready();
  const [st] = await env.sandbox.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  await env.conn.query("SET GLOBAL binlog_row_metadata = 'MINIMAL'");
  try {
    await env.conn.query("CREATE TABLE r.tm (id INT PRIMARY KEY, j JSON)");
    await env.conn.query(`INSERT INTO r.tm VALUES (1, '{"a": 1}')`);
    await env.conn.query("ALTER TABLE r.tm ADD COLUMN x INT");
  } finally {
    await env.conn.query("SET GLOBAL binlog_row_metadata = 'FULL'");
  }
  const r = replication();
  const args = [
    "bin/sluice.js",
    "binlog",
    "stream",
    r.url,
    "--start",
    `${st!.File}:${st!.Position}`,
    "--until-head",
  ];
  const failed = spawnSync(process.execPath, args, {
    encoding: "utf8",
    env: { ...process.env, SLUICE_FROM_SOURCE: "1", ...r.env },
    timeout: 120_000,
  });
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /SCHEMA_MISMATCH.*r\.tm/);
  assert.match(failed.stderr, /--no-schema/);
  const lines = sluice([...args.slice(1), "--no-schema"], r.env);
  const write = lines.find((l) => l.table === "tm" && l.type === "write_rows_v1") as {
    rows: Array<{ after: Record<string, unknown> }>;
  };
  assert.deepEqual(write.rows[0]!.after, { "@1": 1, "@2": '{"a": 1}' });
});
