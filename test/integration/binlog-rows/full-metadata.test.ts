// Every column type and its edge values written through a sandboxed MariaDB with
// binlog_row_metadata=FULL, decoded from its binlog and compared with the server's own SELECT text
// (time_zone '+00:00'), for row images FULL, MINIMAL and NOBLOB.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ColumnType, rowsEventToJson } from "../../../src/codecs/binlog/rows/index.ts";
import { SchemaResolver } from "../../../src/sources/schema/index.ts";
import {
  assertImageMatches,
  COLUMNS,
  type ColumnCase,
  createTableSql,
  decodeDir,
  insertSql,
  ROWS,
  snapshot,
  updateSql,
  useSandbox,
} from "./harness.ts";

const env = useSandbox({ binlogRowMetadata: "FULL", binlogRowImage: "FULL" });

const LOB = new Set(["tt", "tx", "mt", "lt", "tb", "bl", "mb", "lb", "j"]); // GEOMETRY is not a BLOB for NOBLOB

test("FULL metadata, FULL image: inserts, updates and deletes of every type decode to what SELECT returns", async () => {
  await env.conn.query(createTableSql("t_full"));
  for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql("t_full", id, id - 1));
  const inserted = await snapshot(env.conn, "t_full");
  for (let id = 1; id <= ROWS; id++) await env.conn.query(updateSql("t_full", id, id % ROWS));
  const updated = await snapshot(env.conn, "t_full");
  await env.conn.query("DELETE FROM t_full");

  // The resolver only adds what FULL metadata cannot say (UUID/INET types) and checks the names.
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  try {
    const { rows } = await decodeDir(env.sandbox.binlogDir, {
      names: resolver,
      beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
    });
    const events = rows.filter((e) => e.table.table === "t_full");
    const counts = { write: 0, update: 0, delete: 0 };
    for (const ev of events) {
      const json = rowsEventToJson(ev);
      for (const row of json.rows) {
        counts[ev.kind]++;
        if (ev.kind === "write") {
          const id = row.after!.id as number;
          const cmp = assertImageMatches(ev, row.after!, inserted.get(id)!, `insert id=${id}`);
          assert.equal(cmp.length, COLUMNS.length + 1);
        } else if (ev.kind === "update") {
          const id = row.before!.id as number;
          assert.equal(
            assertImageMatches(ev, row.before!, inserted.get(id)!, `update before id=${id}`).length,
            COLUMNS.length + 1,
          );
          assert.equal(
            assertImageMatches(ev, row.after!, updated.get(id)!, `update after id=${id}`).length,
            COLUMNS.length + 1,
          );
        } else {
          const id = row.before!.id as number;
          assert.equal(
            assertImageMatches(ev, row.before!, updated.get(id)!, `delete id=${id}`).length,
            COLUMNS.length + 1,
          );
        }
      }
    }
    assert.deepEqual(counts, { write: ROWS, update: ROWS, delete: ROWS });
  } finally {
    await resolver.close();
  }
});

for (const image of ["MINIMAL", "NOBLOB"] as const) {
  test(`FULL metadata, ${image} image: absent columns are absent (never null), present ones exact`, async () => {
    const table = `t_${image.toLowerCase()}`;
    await env.conn.query(createTableSql(table));
    await env.conn.query(`SET SESSION binlog_row_image = '${image}'`);
    let inserted: Awaited<ReturnType<typeof snapshot>>;
    let updated: Awaited<ReturnType<typeof snapshot>>;
    try {
      for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql(table, id, id - 1));
      inserted = await snapshot(env.conn, table);
      await env.conn.query(`UPDATE ${table} SET vc = CONCAT('changed-', id), lb = X'0102', zi = NULL`);
      updated = await snapshot(env.conn, table);
      await env.conn.query(`DELETE FROM ${table}`);
    } finally {
      await env.conn.query("SET SESSION binlog_row_image = 'FULL'");
    }
    const resolver = await SchemaResolver.connect(env.sandbox.url);
    const { rows } = await decodeDir(env.sandbox.binlogDir, {
      names: resolver,
      beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
    }).finally(() => resolver.close());
    const events = rows.filter((e) => e.table.table === table);
    const allNames = ["id", ...COLUMNS.map(([n]) => n)];
    const nonLob = allNames.filter((n) => !LOB.has(n));
    const counts = { write: 0, update: 0, delete: 0 };
    for (const ev of events) {
      for (const row of rowsEventToJson(ev).rows) {
        counts[ev.kind]++;
        for (const img of [row.before, row.after]) {
          if (img === undefined) continue;
          for (const v of Object.values(img)) assert.notEqual(v, undefined);
        }
        if (ev.kind === "write") {
          const id = row.after!.id as number;
          assertImageMatches(ev, row.after!, inserted.get(id)!, `insert id=${id}`);
        } else if (ev.kind === "update") {
          const id = row.before!.id as number;
          const b = assertImageMatches(ev, row.before!, inserted.get(id)!, `update before id=${id}`);
          const a = assertImageMatches(ev, row.after!, updated.get(id)!, `update after id=${id}`);
          if (image === "MINIMAL") {
            assert.deepEqual(b, ["id"]);
            assert.ok(a.includes("vc") && a.includes("lb"), `after image has the changed columns: ${a}`);
            assert.ok(!a.includes("tx") && !a.includes("i"), `after image lacks unchanged columns: ${a}`);
            // set to NULL: present with null, not absent
            assert.equal(row.after!.zi, null);
            assert.ok("zi" in row.after!);
          } else {
            assert.deepEqual(b, nonLob);
            assert.deepEqual(
              a,
              allNames.filter((n) => !LOB.has(n) || n === "lb"),
            );
            // absent, not null: an unchanged TEXT column is simply not a key
            assert.equal("tx" in row.after!, false);
          }
        } else {
          const id = row.before!.id as number;
          const b = assertImageMatches(ev, row.before!, updated.get(id)!, `delete id=${id}`);
          assert.deepEqual(b, image === "MINIMAL" ? ["id"] : nonLob);
        }
      }
    }
    assert.deepEqual(counts, { write: ROWS, update: ROWS, delete: ROWS });
  });
}

test("MariaDB compressed rows events (log_bin_compress) decode like plain ones", async () => {
  await env.conn.query(createTableSql("t_zip"));
  await env.conn.query("SET GLOBAL log_bin_compress = ON");
  let inserted: Awaited<ReturnType<typeof snapshot>>;
  let updated: Awaited<ReturnType<typeof snapshot>>;
  try {
    for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql("t_zip", id, id - 1));
    inserted = await snapshot(env.conn, "t_zip");
    await env.conn.query("UPDATE t_zip SET vc = CONCAT('zipped-', id)");
    updated = await snapshot(env.conn, "t_zip");
    await env.conn.query("DELETE FROM t_zip");
  } finally {
    await env.conn.query("SET GLOBAL log_bin_compress = OFF");
  }
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  const { rows } = await decodeDir(env.sandbox.binlogDir, {
    names: resolver,
    beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
  }).finally(() => resolver.close());
  const events = rows.filter((e) => e.table.table === "t_zip");
  assert.ok(
    events.some((e) => e.typeCode >= 166 && e.typeCode <= 171),
    `compressed events present: ${events.map((e) => e.typeCode)}`,
  );
  let n = 0;
  for (const ev of events) {
    for (const row of rowsEventToJson(ev).rows) {
      n++;
      if (row.before) {
        const id = row.before.id as number;
        assertImageMatches(
          ev,
          row.before,
          (ev.kind === "delete" ? updated : inserted).get(id)!,
          `before ${id}`,
        );
      }
      if (row.after) {
        const id = row.after.id as number;
        assertImageMatches(ev, row.after, (ev.kind === "write" ? inserted : updated).get(id)!, `after ${id}`);
      }
    }
  }
  assert.equal(n, 3 * ROWS);
});

test("old temporal formats (mysql56_temporal_format=OFF): TIME, DATETIME, TIMESTAMP", async () => {
  const cols: ColumnCase[] = [
    ["tm", "TIME", ["'-838:59:59'", "'838:59:59'", "NULL", "'00:00:00'", "'-01:02:03'"]],
    [
      "dtm",
      "DATETIME",
      [
        "'1000-01-01 00:00:00'",
        "'9999-12-31 23:59:59'",
        "NULL",
        "'0000-00-00 00:00:00'",
        "'2024-01-02 03:04:05'",
      ],
    ],
    [
      "ts",
      "TIMESTAMP NULL",
      [
        "'1970-01-01 00:00:01'",
        "'2038-01-19 03:14:07'",
        "NULL",
        "'0000-00-00 00:00:00'",
        "'2024-01-02 03:04:05'",
      ],
    ],
  ];
  await env.conn.query("SET GLOBAL mysql56_temporal_format = OFF");
  try {
    await env.conn.query(createTableSql("t_old", cols));
  } finally {
    await env.conn.query("SET GLOBAL mysql56_temporal_format = ON");
  }
  for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql("t_old", id, id - 1, cols));
  const inserted = await snapshot(env.conn, "t_old");
  const { rows } = await decodeDir(env.sandbox.binlogDir);
  const events = rows.filter((e) => e.table.table === "t_old");
  assert.deepEqual(
    events[0]!.table.columns.map((c) => c.type),
    [ColumnType.LONG, ColumnType.TIME, ColumnType.DATETIME, ColumnType.TIMESTAMP],
  );
  let n = 0;
  for (const ev of events)
    for (const row of rowsEventToJson(ev).rows) {
      n++;
      const id = row.after!.id as number;
      assert.equal(assertImageMatches(ev, row.after!, inserted.get(id)!, `old id=${id}`).length, 4);
    }
  assert.equal(n, ROWS);
});

test("MariaDB's own fractional temporal format (mysql56_temporal_format=OFF): decoded with the schema's precision", async () => {
  const cols: ColumnCase[] = [
    ["t1", "TIME(1)", ["'-838:59:59.9'", "'838:59:59.9'", "NULL", "'-00:00:00.1'", "'25:00:00.5'"]],
    ["t3", "TIME(3)", ["'-838:59:59.999'", "'838:59:59.999'", "NULL", "'-01:02:03.456'", "'00:00:00'"]],
    [
      "t6",
      "TIME(6)",
      ["'-838:59:59.999999'", "'838:59:59.999999'", "NULL", "'-00:00:00.000001'", "'100:00:00.000001'"],
    ],
    [
      "d2",
      "DATETIME(2)",
      [
        "'1000-01-01 00:00:00.01'",
        "'9999-12-31 23:59:59.99'",
        "NULL",
        "'0000-00-00 00:00:00'",
        "'2024-01-02 03:04:05.5'",
      ],
    ],
    [
      "d6",
      "DATETIME(6)",
      [
        "'1000-01-01 00:00:00.000001'",
        "'9999-12-31 23:59:59.999999'",
        "NULL",
        "'0000-00-00 00:00:00'",
        "'2024-01-02 03:04:05.678901'",
      ],
    ],
    [
      "s2",
      "TIMESTAMP(2) NULL",
      [
        "'1970-01-01 00:00:01.01'",
        "'2038-01-19 03:14:07.99'",
        "NULL",
        "'0000-00-00 00:00:00'",
        "'2024-01-02 03:04:05.67'",
      ],
    ],
    [
      "s5",
      "TIMESTAMP(5) NULL",
      [
        "'1970-01-01 00:00:01.00001'",
        "'2038-01-19 03:14:07.99999'",
        "NULL",
        "'0000-00-00 00:00:00'",
        "'2024-01-02 03:04:05.12345'",
      ],
    ],
  ];
  await env.conn.query("SET GLOBAL mysql56_temporal_format = OFF");
  try {
    await env.conn.query(createTableSql("t_hires", cols));
  } finally {
    await env.conn.query("SET GLOBAL mysql56_temporal_format = ON");
  }
  for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql("t_hires", id, id - 1, cols));
  const inserted = await snapshot(env.conn, "t_hires");
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  const { rows } = await decodeDir(env.sandbox.binlogDir, {
    names: resolver,
    beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
  }).finally(() => resolver.close());
  const events = rows.filter((e) => e.table.table === "t_hires");
  assert.deepEqual(
    events[0]!.table.columns.slice(1).map((c) => [c.type, c.decimals]),
    [
      [ColumnType.TIME, 1],
      [ColumnType.TIME, 3],
      [ColumnType.TIME, 6],
      [ColumnType.DATETIME, 2],
      [ColumnType.DATETIME, 6],
      [ColumnType.TIMESTAMP, 2],
      [ColumnType.TIMESTAMP, 5],
    ],
  );
  let n = 0;
  for (const ev of events)
    for (const row of rowsEventToJson(ev).rows) {
      n++;
      const id = row.after!.id as number;
      assert.equal(
        assertImageMatches(ev, row.after!, inserted.get(id)!, `hires id=${id}`).length,
        cols.length + 1,
      );
    }
  assert.equal(n, ROWS);
});

test("FULL metadata read after the table changed: the map's names win, the resolver only adds types", async () => {
  await env.conn.query("CREATE TABLE t_ren (id INT PRIMARY KEY, a INT, u UUID)");
  await env.conn.query("INSERT INTO t_ren VALUES (1, 10, '6ccd780c-baba-1026-9564-5b8c656024db')");
  await env.conn.query("ALTER TABLE t_ren RENAME COLUMN a TO b, ADD COLUMN c VARCHAR(3) FIRST");
  await env.conn.query("INSERT INTO t_ren VALUES ('x', 2, 20, '123e4567-e89b-42d3-a456-426614174000')");
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  const { rows } = await decodeDir(env.sandbox.binlogDir, {
    names: resolver,
    beforeTableMap: (s, t, at) => resolver.prepare(s, t, at),
  }).finally(() => resolver.close());
  assert.deepEqual(
    rows.filter((e) => e.table.table === "t_ren").map((e) => rowsEventToJson(e).rows[0]!.after),
    [
      { id: 1, a: 10, u: "6ccd780c-baba-1026-9564-5b8c656024db" },
      { c: "x", id: 2, b: 20, u: "123e4567-e89b-42d3-a456-426614174000" },
    ],
  );
});
