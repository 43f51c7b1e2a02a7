import assert from "node:assert/strict";
import { test } from "node:test";
import type { CommandEvent } from "../../../src/capture/events.ts";
import type { ParamValue } from "../../../src/codecs/mysql/binary-values.ts";
import type { SessionState } from "../../../src/replay/scheduler.ts";
import { followCommand, isLiteral, SessionVariables } from "../../../src/replay/session-state.ts";
import { bindPlaceholders, splitTopLevel, sqlLiteral } from "../../../src/replay/sql-text.ts";

let seq = 0;
const query = (sql: string): CommandEvent => ({
  type: "command",
  session: 1,
  seq: ++seq,
  ts: seq,
  kind: "query",
  sql,
  db: "d",
});

function follow(...sqls: string[]): SessionVariables {
  const v = new SessionVariables();
  for (const sql of sqls) v.note(query(sql));
  return v;
}

test("session SETs and literal user variables are rebuilt in order; global ones are left alone", () => {
  const v = follow(
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'ANSI_QUOTES', @a = 1, lock_wait_timeout = 7, GLOBAL max_connections = 10, wait_timeout = 9",
    "SET @@session.time_zone = '+02:00'; SET @@global.read_only = 0",
    "SET @b := 'x''y', @c = -2.5e3, @d = NULL",
    "set /* why */ @@sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')",
    "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SET @a = 2",
    "SET @d = 'replaces the NULL'",
  );
  assert.deepEqual(v.restore(), [
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'ANSI_QUOTES'",
    // Kept: the CONCAT after it is not a literal, and could have read it.
    "SET @a = 1",
    "SET SESSION lock_wait_timeout = 7",
    "SET SESSION time_zone = '+02:00'",
    "SET @b = 'x''y'",
    "SET @c = -2.5e3",
    "SET @d = NULL",
    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')",
    "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SET @a = 2",
    "SET @d = 'replaces the NULL'",
  ]);
  assert.deepEqual(v.notRestored(), []);
});

test("user variables set by queries or expressions, temporary tables and an open transaction are listed, until undone", () => {
  const v = follow(
    "SELECT COUNT(*) INTO @n FROM t",
    "SELECT @m := MAX(id) FROM t",
    "SET @e = @n + 1",
    "CREATE TEMPORARY TABLE tmp1 (id INT)",
    "CREATE TEMPORARY TABLE IF NOT EXISTS `tmp2` (id INT)",
    "DROP TEMPORARY TABLE tmp2",
    "BEGIN",
    "INSERT INTO t VALUES (1)",
  );
  assert.deepEqual(v.notRestored(), [
    "user variable @n (assigned by a query)",
    "user variable @m (assigned by a query)",
    "user variable @e (not assigned a literal)",
    "temporary table tmp1",
    "open transaction",
  ]);
  for (const sql of ["COMMIT", "SET @n = 5", "DROP TABLE IF EXISTS tmp1"]) v.note(query(sql));
  assert.deepEqual(v.notRestored(), [
    "user variable @m (assigned by a query)",
    "user variable @e (not assigned a literal)",
  ]);
  assert.deepEqual(v.restore(), ["SET @n = 5"]);
});

test("autocommit off: a statement opens a transaction, COMMIT or autocommit on closes it; a reset clears everything", () => {
  const v = follow("SET autocommit = 0", "UPDATE t SET a = 1");
  assert.deepEqual(v.notRestored(), ["open transaction"]);
  v.note(query("COMMIT"));
  assert.deepEqual(v.notRestored(), []);
  v.note(query("SELECT 1"));
  v.note(query("SET autocommit = 1"));
  assert.deepEqual(v.notRestored(), []);
  v.note(query("SET @x = (SELECT 1)"));
  v.note({ ...query(""), kind: "reset_connection" });
  assert.deepEqual([v.restore(), v.notRestored()], [[], []]);
});

test("literals and top-level splitting", () => {
  for (const l of ["1", "-2", "'a'", "_utf8mb4'a'", "NULL", "0xff", "X'0a'", "b'01'", "TRUE", '"q"'])
    assert.ok(isLiteral(l), l);
  for (const l of ["@a", "(SELECT 1)", "NOW()", "1 + 1", "'a' 'b' x"]) assert.ok(!isLiteral(l), l);
  assert.deepEqual(splitTopLevel("a = 'x,y', b = f(1, 2), c = `p,q`", ","), [
    "a = 'x,y'",
    " b = f(1, 2)",
    " c = `p,q`",
  ]);
});

test("placeholders bound to literals that read back the same whatever the sql_mode; ? in quotes and comments left alone", () => {
  const literals = [7, "it's", null, Buffer.from([0xff, 0x00]), "0x41", "a \\ b"].map(sqlLiteral);
  assert.deepEqual(literals, ["7", "'it''s'", "NULL", "X'ff00'", "'0x41'", "_utf8mb4 X'61205c2062'"]);
  assert.equal(
    bindPlaceholders(
      "SELECT '?', `a?` /* ? */ FROM t WHERE a = ? AND b = ? -- ?\n AND c <=> ? AND d = ? AND e = ? AND f = ?",
      literals,
    ),
    "SELECT '?', `a?`   FROM t WHERE a = 7 AND b = 'it''s'  \n AND c <=> NULL AND d = X'ff00' AND e = '0x41' AND f = _utf8mb4 X'61205c2062'",
  );
  assert.equal(bindPlaceholders("SELECT ?", []), undefined);
  assert.equal(bindPlaceholders("SELECT 1", ["1"]), undefined);
});

test("prepared executions are followed as their SQL with the captured parameters bound", () => {
  const st: SessionState = { db: "d", statements: new Map() };
  const prepare = (id: number, sql: string) =>
    followCommand(
      st,
      { ...query(sql), kind: "stmt_prepare" },
      {
        type: "response",
        session: 1,
        seq,
        ts: seq,
        kind: "ok",
        ok: true,
        affectedRows: 0,
        warnings: 0,
        resultSets: 0,
        columns: 0,
        rows: 0,
        statementId: id,
        paramCount: 1,
        latencyUs: 1,
      },
    );
  const execute = (id: number, params: ParamValue[]) =>
    followCommand(st, { ...query(""), kind: "stmt_execute", statementId: id, params }, undefined);
  prepare(1, "SET @a = ?, SESSION sql_mode = ?");
  prepare(2, "SELECT ? INTO @b");
  execute(1, ["it's", "ANSI"]);
  execute(2, [5]);
  assert.deepEqual(st.variables?.restore(), ["SET @a = 'it''s'", "SET SESSION sql_mode = 'ANSI'"]);
  assert.deepEqual(st.variables?.notRestored(), ["user variable @b (assigned by a query)"]);
});
