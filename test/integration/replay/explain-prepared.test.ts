import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ParamValue } from "../../../src/codecs/mysql/binary-values.ts";
import { replaySessions } from "../../../src/replay/player.ts";
import { Scheduler } from "../../../src/replay/scheduler.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { connectEvent } from "./events.ts";

let db: MariadbSandbox;
before(async () => {
  db = await startMariadb();
});
after(async () => {
  await db?.stop();
});

/** One session in `shop` preparing each SQL and executing it once with its parameters. */
function preparedSession(statements: Array<{ sql: string; params: ParamValue[] }>) {
  const s = new Scheduler("max");
  let ts = 1_000;
  s.add(connectEvent(1, ts++, "shop"));
  let seq = 0;
  statements.forEach(({ sql, params }, i) => {
    const id = i + 1;
    for (const kind of ["stmt_prepare", "stmt_execute"]) {
      seq++;
      s.add({
        type: "command",
        session: 1,
        seq,
        ts: ts++,
        kind,
        ...(kind === "stmt_prepare" ? { sql } : { statementId: id, params }),
        db: "shop",
      });
      s.add({
        type: "response",
        session: 1,
        seq,
        ts: ts++,
        kind: kind === "stmt_prepare" ? "ok" : "resultset",
        ok: true,
        affectedRows: 0,
        warnings: 0,
        resultSets: kind === "stmt_prepare" ? 0 : 1,
        columns: 1,
        rows: kind === "stmt_prepare" ? 0 : 1,
        ...(kind === "stmt_prepare" ? { statementId: id, paramCount: params.length } : {}),
        latencyUs: 10,
      });
    }
  });
  s.add({ type: "close", session: 1, ts: ts++, reason: "fin", commands: seq });
  return s.plans();
}

test("--explain on prepared SELECTs: explained with the captured parameters as quoted literals; a dropped index shows as a plan difference", async () => {
  for (const d of ["shop", "shop_copy"]) {
    await db.query(`CREATE DATABASE ${d}`);
    await db.query(`CREATE TABLE ${d}.t (id INT PRIMARY KEY, k INT, v INT, note VARCHAR(40), KEY idx_k (k))`);
    await db.query(`INSERT INTO ${d}.t SELECT seq, seq % 50, seq, CONCAT('n', seq) FROM ${d}.seq_1_to_500`);
    await db.query(`UPDATE ${d}.t SET note = 'it''s a \\\\ test' WHERE id = 3`);
    await db.query(`ANALYZE TABLE ${d}.t`);
  }
  await db.query("ALTER TABLE shop_copy.t DROP INDEX idx_k");
  const tricky = "it's a \\ test";
  const plans = preparedSession([
    { sql: "SELECT v FROM t WHERE k = ? AND note <> '?'", params: [7] },
    { sql: "SELECT v /* ? */ FROM t WHERE id = ? AND note = ?", params: [3, tricky] },
    // An INSERT is not explained.
    { sql: "INSERT INTO t (id, k, v, note) VALUES (?, ?, ?, ?)", params: [1000, 1, 1, "x"] },
  ]);
  // The EXPLAIN connections read backslashes as themselves: the sample's literal must still be the value
  // (a const plan: the row by its primary key matched the note; otherwise "Impossible WHERE", no table).
  const mode = (await db.query<{ m: string }>("SELECT @@global.sql_mode AS m"))[0]?.m ?? "";
  await db.query(`SET GLOBAL sql_mode = '${mode},NO_BACKSLASH_ESCAPES'`);
  let result: Awaited<ReturnType<typeof replaySessions>>;
  try {
    result = await replaySessions(plans, {
      target: db.url,
      speed: "max",
      dbMap: new Map([["shop", "shop_copy"]]),
      explain: { source: db.url },
    });
  } finally {
    await db.query(`SET GLOBAL sql_mode = '${mode}'`);
  }
  assert.equal(result.summary.differences.errors, 0, JSON.stringify(result.summary));
  const explained = result.summary.plans ?? [];
  assert.deepEqual(
    explained.map((p) => [p.fingerprint, p.sample, p.source, p.target, p.differs]),
    [
      [
        "select v from t where k=? and note<>?",
        "SELECT v FROM t WHERE k = 7 AND note <> '?'",
        "t:ref idx_k",
        "t:ALL",
        true,
      ],
      [
        "select v from t where id=? and note=?",
        `SELECT v   FROM t WHERE id = 3 AND note = _utf8mb4 X'${Buffer.from(tricky).toString("hex")}'`,
        "t:const PRIMARY",
        "t:const PRIMARY",
        false,
      ],
    ],
  );
});
