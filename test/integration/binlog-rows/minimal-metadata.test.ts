// binlog_row_metadata=MINIMAL: the table maps carry no names, signedness, labels or charsets; the
// schema resolver supplies them from information_schema and follows the DDL seen in the stream.
import assert from "node:assert/strict";
import { test } from "node:test";
import { rowsEventToJson } from "../../../src/codecs/binlog/rows/index.ts";
import { isSluiceError } from "../../../src/core/errors.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";
import { SchemaResolver } from "../../../src/sources/schema/index.ts";
import {
  assertImageMatches,
  binlogFiles,
  COLUMNS,
  createTableSql,
  decodeDir,
  insertSql,
  ROWS,
  snapshot,
  updateSql,
  useSandbox,
} from "./harness.ts";

const env = useSandbox({ binlogRowMetadata: "MINIMAL", binlogRowImage: "MINIMAL" });

function resolverHooks(resolver: SchemaResolver) {
  return {
    names: resolver,
    beforeTableMap: (s: string, t: string, at: { file: string; offset: number }) =>
      resolver.prepare(s, t, at),
    onQuery: (sql: string, db: string, at: { file: string; offset: number }) => {
      resolver.noteQuery(sql, db, at);
    },
  };
}

test("MINIMAL metadata, FULL image: with the resolver every type decodes to what SELECT returns", async () => {
  await env.conn.query("SET SESSION binlog_row_image = 'FULL'");
  await env.conn.query(createTableSql("t_all"));
  for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql("t_all", id, id - 1));
  const inserted = await snapshot(env.conn, "t_all");
  for (let id = 1; id <= ROWS; id++) await env.conn.query(updateSql("t_all", id, id % ROWS));
  const updated = await snapshot(env.conn, "t_all");
  await env.conn.query("DELETE FROM t_all");
  await env.conn.query("SET SESSION binlog_row_image = 'MINIMAL'");

  const resolver = await SchemaResolver.connect(env.sandbox.url);
  try {
    const { rows } = await decodeDir(env.sandbox.binlogDir, resolverHooks(resolver));
    const events = rows.filter((e) => e.table.table === "t_all");
    assert.ok(events.length > 0);
    for (const ev of events) {
      assert.deepEqual(ev.table.optionalMetadata.includes(4), false, "no COLUMN_NAME in MINIMAL metadata");
      for (const row of rowsEventToJson(ev).rows) {
        const full = COLUMNS.length + 1;
        if (ev.kind === "write") {
          const id = row.after!.id as number;
          assert.equal(assertImageMatches(ev, row.after!, inserted.get(id)!, `insert id=${id}`).length, full);
        } else if (ev.kind === "update") {
          const id = row.before!.id as number;
          assert.equal(
            assertImageMatches(ev, row.before!, inserted.get(id)!, `before id=${id}`).length,
            full,
          );
          assert.equal(assertImageMatches(ev, row.after!, updated.get(id)!, `after id=${id}`).length, full);
        } else {
          const id = row.before!.id as number;
          assert.equal(assertImageMatches(ev, row.before!, updated.get(id)!, `delete id=${id}`).length, full);
        }
      }
    }
  } finally {
    await resolver.close();
  }

  // Without a resolver the columns are @1..@N; MINIMAL still logs signedness, not ENUM labels.
  const bare = await decodeDir(env.sandbox.binlogDir);
  const writes = bare.rows.filter((e) => e.table.table === "t_all" && e.kind === "write");
  const img = rowsEventToJson(writes[1]!).rows[0]!.after!;
  assert.equal(img["@1"], 2);
  assert.equal(img["@3"], 255, "TINYINT UNSIGNED: MINIMAL metadata carries SIGNEDNESS");
  const enumAt = `@${COLUMNS.findIndex(([n]) => n === "e") + 2}`;
  assert.equal(img[enumAt], 4, "ENUM without labels is its 1-based index");
});

test("NO_LOG metadata: integers read as signed without the resolver, the resolver restores unsigned", async () => {
  await env.conn.query("SET GLOBAL binlog_row_metadata = 'NO_LOG'");
  try {
    await env.conn.query(
      "CREATE TABLE t_nolog (id INT PRIMARY KEY, u TINYINT UNSIGNED, b BIGINT UNSIGNED, e ENUM('x','y'))",
    );
    await env.conn.query("INSERT INTO t_nolog VALUES (1, 255, 18446744073709551615, 'y')");
  } finally {
    await env.conn.query("SET GLOBAL binlog_row_metadata = 'MINIMAL'");
  }
  const bare = (await decodeDir(env.sandbox.binlogDir)).rows.filter((e) => e.table.table === "t_nolog");
  assert.equal(bare[0]!.table.optionalMetadata.length, 0);
  assert.deepEqual(rowsEventToJson(bare[0]!).rows[0]!.after, { "@1": 1, "@2": -1, "@3": -1, "@4": 2 });
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  try {
    const named = (await decodeDir(env.sandbox.binlogDir, resolverHooks(resolver))).rows.filter(
      (e) => e.table.table === "t_nolog",
    );
    assert.deepEqual(rowsEventToJson(named[0]!).rows[0]!.after, {
      id: 1,
      u: 255,
      b: "18446744073709551615",
      e: "y",
    });
  } finally {
    await resolver.close();
  }
});

test("MINIMAL metadata and image across ALTER TABLE (add, drop, reorder): names follow the DDL in the stream", async () => {
  await env.conn.query("CREATE TABLE ta (id INT PRIMARY KEY, a VARCHAR(10), b INT, c INT)");
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  try {
    let from: { file: string; offset: number } | undefined;
    // Reads what the server wrote since the last call, as a live follower would.
    const follow = async () => {
      const out = await decodeDir(env.sandbox.binlogDir, {
        ...resolverHooks(resolver),
        ...(from ? { from } : {}),
      });
      from = out.end;
      return out.rows.filter((e) => e.table.table === "ta");
    };
    const steps: Array<{ ddl?: string; insert: string; names: string[] }> = [
      { insert: "INSERT INTO ta VALUES (1, 'one', 2, 3)", names: ["id", "a", "b", "c"] },
      {
        ddl: "ALTER TABLE ta ADD COLUMN n VARCHAR(5) AFTER id, DROP COLUMN b",
        insert: "INSERT INTO ta (id, n, a, c) VALUES (2, 'nn', 'two', 4)",
        names: ["id", "n", "a", "c"],
      },
      {
        ddl: "ALTER TABLE ta ADD COLUMN e INT AFTER id",
        insert: "INSERT INTO ta (id, e, n, a, c) VALUES (3, 5, 'n3', 'three', 6)",
        names: ["id", "e", "n", "a", "c"],
      },
      {
        // c and e are both INT: only the DDL tracking can tell them apart after this reorder.
        ddl: "ALTER TABLE ta MODIFY c INT AFTER id",
        insert: "INSERT INTO ta (id, e, n, a, c) VALUES (4, 7, 'n4', 'four', 8)",
        names: ["id", "c", "e", "n", "a"],
      },
      {
        ddl: "/* renamed */ ALTER TABLE `r`.`ta` RENAME COLUMN a TO aa",
        insert: "UPDATE ta SET aa = 'FOUR', e = 70 WHERE id = 4",
        names: ["id", "e", "aa"],
      },
    ];
    await follow(); // the CREATE TABLE
    const fetchesBefore = resolver.fetches;
    for (const [k, step] of steps.entries()) {
      if (step.ddl) await env.conn.query(step.ddl);
      await env.conn.query(step.insert);
      const server = await snapshot(env.conn, "ta");
      const events = await follow();
      assert.equal(events.length, 1, `step ${k}: one rows event`);
      const ev = events[0]!;
      const row = rowsEventToJson(ev).rows[0]!;
      const image = (ev.kind === "update" ? row.after : row.after)!;
      const id = ev.kind === "update" ? (row.before!.id as number) : (image.id as number);
      const compared = assertImageMatches(ev, image, server.get(id)!, `step ${k}`);
      if (ev.kind === "write") assert.deepEqual(compared, step.names, `step ${k}: column names`);
      else
        assert.deepEqual([...Object.keys(row.before!), ...compared], step.names, `step ${k}: update images`);
    }
    assert.equal(
      resolver.fetches - fetchesBefore,
      steps.length,
      "one fetch per schema version, none per event",
    );
  } finally {
    await resolver.close();
  }

  // Reading the same binlog again today, the events before the ALTERs meet a schema that no longer
  // fits their table maps: a clear error naming the table and position, never misnamed columns.
  const late = await SchemaResolver.connect(env.sandbox.url);
  try {
    await assert.rejects(decodeDir(env.sandbox.binlogDir, resolverHooks(late)), (e: unknown) => {
      assert.ok(isSluiceError(e));
      assert.equal(e.code, "SCHEMA_MISMATCH");
      assert.equal(e.context.table, "r.ta");
      assert.match(String(e.context.file), /^mariadb-bin\.\d+$/);
      assert.equal(typeof e.context.offset, "number");
      return true;
    });
  } finally {
    await late.close();
  }
});

test("end to end through the binlog file reader: SchemaResolver.annotate between a TABLE_MAP and its rows", async () => {
  await env.conn.query("CREATE TABLE te (id INT PRIMARY KEY, v VARCHAR(10), u INT UNSIGNED)");
  await env.conn.query("INSERT INTO te VALUES (1, 'a', 4294967295)");
  const resolver = await SchemaResolver.connect(env.sandbox.url);
  const read = async (startPosition?: number) => {
    const out: unknown[] = [];
    let next = 0;
    const files = binlogFiles(env.sandbox.binlogDir).slice(-1);
    for await (const ev of readBinlogFiles({ files, ...(startPosition ? { startPosition } : {}) })) {
      next = ev.position.next;
      if (ev.type === "query") resolver.noteQuery(ev.query, ev.database, ev.position);
      else if (ev.type === "table_map" && ev.tableMap?.table === "te") await resolver.annotate(ev.tableMap);
      else if ("rows" in ev && ev.rows && ev.rows.table.table === "te")
        out.push(...rowsEventToJson(ev.rows).rows);
    }
    return { out, next };
  };
  try {
    const first = await read();
    assert.deepEqual(first.out, [{ after: { id: 1, v: "a", u: 4294967295 } }]);
    await env.conn.query("ALTER TABLE te ADD COLUMN n INT FIRST");
    await env.conn.query("INSERT INTO te VALUES (5, 2, 'b', 7)");
    const second = await read(first.next);
    assert.deepEqual(second.out, [{ after: { n: 5, id: 2, v: "b", u: 7 } }]);
  } finally {
    await resolver.close();
  }
});
