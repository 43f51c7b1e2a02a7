import assert from "node:assert/strict";
import { test } from "node:test";
import { isReadOnlyStatement, parseMapping } from "../../../src/replay/player.ts";
import { CommitTracker } from "../../../src/replay/source.ts";

test("commits only up to the lowest command not done yet", async () => {
  const commits: number[] = [];
  const t = new CommitTracker([3, 5, 8], 10, async (o) => {
    commits.push(o);
  });
  assert.equal(t.safeOffset(), 2);
  await t.done(5);
  assert.deepEqual(commits, [2], "3 is still in flight");
  await t.done(3);
  assert.deepEqual(commits, [2, 7]);
  await t.done(8);
  assert.deepEqual(commits, [2, 7, 10]);
  await t.finish();
  assert.deepEqual(commits, [2, 7, 10], "no commit twice");
});

test("read-only statements", () => {
  for (const sql of [
    "SELECT 1",
    " select * from t",
    "SHOW TABLES",
    "/* x */ SELECT 1",
    "EXPLAIN SELECT 1",
    "(SELECT 1)",
  ])
    assert.ok(isReadOnlyStatement(sql), sql);
  for (const sql of [
    "INSERT INTO t VALUES (1)",
    "UPDATE t SET a = 1",
    "SELECT * FROM t FOR UPDATE",
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    "SELECT 1; DELETE FROM t",
    "CREATE TABLE t (a INT)",
    "/*!40101 SET NAMES utf8 */",
  ])
    assert.ok(!isReadOnlyStatement(sql), sql);
});

test("mappings parse from=to and reject the rest", () => {
  assert.deepEqual(
    [...parseMapping(["a=b", "c=d=e"], "db")],
    [
      ["a", "b"],
      ["c", "d=e"],
    ],
  );
  assert.throws(() => parseMapping(["ab"], "db"), /--db-map expects from=to/);
});
