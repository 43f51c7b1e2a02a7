import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { CommandEvent, ResponseEvent, SessionEvent } from "../../../src/capture/events.ts";
import { eventRecord } from "../../../src/capture/publish.ts";
import type { ReplaySummary } from "../../../src/replay/report.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog, type StreamLog } from "../../../src/stream/index.ts";
import { startCli as start, stopWhenCommitted } from "./cli-run.ts";
import { connectEvent } from "./events.ts";

const ROWS = 300;
const MODE = "ANSI_QUOTES,NO_ENGINE_SUBSTITUTION";
/** The check each captured SELECT makes: one row on the source, none where the variables differ. */
const CHECK = `SELECT @v, @w, @@session.sql_mode FROM DUAL WHERE @v = 'kept value' AND @w = 42 AND @@session.sql_mode = '${MODE}' AND @@session.lock_wait_timeout = 17`;

/**
 * One session: session and user variables set first (and a user variable set by a query, a temporary
 * table), then rows inserted with the variables' values, each followed by the SELECT that checks them.
 * Commands 2 ms apart, so that a replay at 1x runs long enough to be killed half-way. `prepared`: the
 * session connects without a database and its commands carry none (only its `USE rs` puts it there), and
 * it inserts with a statement it prepared before the SETs' rows.
 */
function capture(prepared = false): SessionEvent[] {
  const events: SessionEvent[] = [];
  let ts = 1_000_000;
  events.push({ ...connectEvent(1, ts, "rs"), ...(prepared ? { db: undefined } : {}) });
  const db = prepared ? undefined : "rs";
  let seq = 0;
  const command = (
    sql: string | undefined,
    rows: number,
    affectedRows = 0,
    more: Partial<CommandEvent> = {},
    answer: Partial<ResponseEvent> = {},
  ) => {
    seq++;
    ts += 2000;
    events.push({
      type: "command",
      session: 1,
      seq,
      ts,
      kind: "query",
      ...(sql === undefined ? {} : { sql }),
      db,
      ...more,
    });
    events.push({
      type: "response",
      session: 1,
      seq,
      ts: ts + 100,
      kind: rows > 0 ? "resultset" : "ok",
      ok: true,
      affectedRows,
      warnings: 0,
      resultSets: rows > 0 ? 1 : 0,
      columns: rows > 0 ? 3 : 0,
      rows,
      latencyUs: 100,
      ...answer,
    });
  };
  if (prepared) command("rs", 0, 0, { kind: "init_db" });
  command("SET NAMES utf8mb4", 0);
  command(`SET SESSION sql_mode = '${MODE}', @v = 'kept value'`, 0);
  command("SET @w := 42, @@session.lock_wait_timeout = 17", 0);
  command("SELECT COUNT(*) INTO @n FROM t", 0);
  command("CREATE TEMPORARY TABLE scratch (id INT)", 0);
  const insert =
    "INSERT INTO t (n, v, w, mode, lwt) VALUES (?, @v, @w, @@session.sql_mode, @@session.lock_wait_timeout)";
  if (prepared) command(insert, 0, 0, { kind: "stmt_prepare" }, { statementId: 1, paramCount: 1 });
  command(CHECK, 1);
  for (let n = 0; n < ROWS; n++) {
    if (prepared) command(undefined, 0, 1, { kind: "stmt_execute", statementId: 1, params: [n] });
    else command(insert.replace("?", String(n)), 0, 1);
    command(CHECK, 1);
  }
  events.push({ type: "close", session: 1, ts: ts + 1000, reason: "fin", commands: seq });
  return events;
}

let db: MariadbSandbox;
let dir: string;
before(async () => {
  db = await startMariadb();
  dir = mkdtempSync(join(tmpdir(), "sluice-resume-state-"));
});
after(async () => {
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const inserted = async () =>
  Number((await db.query<{ c: number }>("SELECT COUNT(*) AS c FROM rs.t"))[0]?.c ?? 0);

/** An empty table rs.t on the target, and a new stream log holding `events`. */
async function setUp(name: string, events: SessionEvent[]): Promise<{ url: string; log: StreamLog }> {
  await db.query("DROP DATABASE IF EXISTS rs");
  await db.query("CREATE DATABASE rs");
  await db.query(
    "CREATE TABLE rs.t (id INT AUTO_INCREMENT PRIMARY KEY, n INT, v VARCHAR(20), w INT, mode VARCHAR(200), lwt INT)",
  );
  const url = `file:${join(dir, `${name}.db`)}`;
  const log = await openStreamLog(url);
  const producer = await log.producer("capture");
  await producer.append(events.map(eventRecord));
  await producer.close();
  return { url, log };
}

/**
 * Replays `events` at 1x from a new stream log, kills the CLI with SIGKILL once the target has inserted a
 * third of the rows (whatever the timing), and starts it again; with --follow, the second run is stopped
 * with SIGINT once the group has committed everything. The second run's report.
 */
async function killAndResume(name: string, events: SessionEvent[], follow: boolean) {
  const { url, log } = await setUp(name, events);

  const args = ["replay", "--from", url, "--group", "g", "--target", db.url, "--speed", "1", "--json"];
  if (follow) args.push("--follow");
  const first = start(args);
  // Killed once the target has inserted part of the rows, whatever the timing.
  for (let i = 0; i < 1000 && (await inserted()) < ROWS / 3; i++) await new Promise((r) => setTimeout(r, 20));
  first.child.kill("SIGKILL");
  const killed = await first.done;
  assert.equal(killed.status, null, `killed mid-run: ${killed.stderr}`);
  const before = await inserted();
  assert.ok(before > 0 && before < ROWS, `killed mid-run after ${before} rows`);

  const run = start(args);
  const second = follow ? await stopWhenCommitted(run, log, "capture", "g") : await run.done;
  await log.close();
  assert.equal(second.status, 0, second.stderr);
  return { summary: JSON.parse(second.stdout) as ReplaySummary, stdout: second.stdout };
}

/**
 * The resumed session had its session and user variables back (NAMES, sql_mode, @v, @w,
 * lock_wait_timeout) and the captured checks found their rows; a variable set by a query and a temporary
 * table are reported as not restored; every row, inserted before the kill or after the restart, holds the
 * captured values.
 */
async function checkResumed(summary: ReplaySummary, stdout: string): Promise<void> {
  assert.equal(summary.stateRestored, 5, stdout);
  assert.equal(summary.stateNotRestored.count, 2, stdout);
  assert.match(summary.stateNotRestored.examples.join("\n"), /user variable @n \(assigned by a query\)/);
  assert.match(summary.stateNotRestored.examples.join("\n"), /temporary table scratch/);
  assert.equal(summary.differences.rows, 0, stdout);
  assert.equal(summary.differences.errors, 0, stdout);
  assert.ok(summary.commands > 0, stdout);
  const rows = await db.query<{ n: number; v: string | null; w: number | null; mode: string; lwt: number }>(
    "SELECT n, v, w, mode, lwt FROM rs.t ORDER BY id",
  );
  assert.equal(new Set(rows.map((r) => r.n)).size, ROWS, "every row was inserted");
  const wrong = rows.filter((r) => r.v !== "kept value" || r.w !== 42 || r.mode !== MODE || r.lwt !== 17);
  assert.deepEqual(wrong, []);
}

test("sluice replay --from killed mid-session and started again: the resumed session has its session and user variables back; a variable set by a query and a temporary table are reported as not restored", async () => {
  const { summary, stdout } = await killAndResume("log", capture(), false);
  await checkResumed(summary, stdout);
});

test("sluice replay --follow killed mid-session and followed again: the resumed session is in the database it had chosen, has its prepared statement and its variables back", async () => {
  await db.query("SET GLOBAL log_output = 'TABLE'");
  await db.query("SET GLOBAL general_log = 0");
  await db.query("TRUNCATE mysql.general_log");
  await db.query("SET GLOBAL general_log = 1");
  const { summary, stdout } = await killAndResume("follow", capture(true), true);
  // Its executions ran (in rs: no error, every row inserted, checked below) with the statement prepared
  // again on the target.
  assert.equal(summary.reprepared, 1, stdout);
  assert.equal(summary.skipped, 0, stdout);
  await checkResumed(summary, stdout);
  const prepares = await db.query<{ argument: string | Buffer }>(
    "SELECT argument FROM mysql.general_log WHERE command_type = 'Prepare' AND argument LIKE 'INSERT INTO t%'",
  );
  assert.equal(prepares.length, 2, "prepared by the first run, and again by the resumed one");
  await db.query("SET GLOBAL general_log = 0");
});

test("sluice replay --follow: a session that began before the committed position and comes only after the start gets its state back", async () => {
  // As if an earlier run had executed the session up to its PREPARE and committed there; the rest of the
  // session is written to the log once the replay follows it.
  const events = capture(true);
  const prepared = events.findIndex((e) => e.type === "command" && e.kind === "stmt_prepare");
  const { url, log } = await setUp("later", events.slice(0, prepared + 2));
  const stored = await log.read("capture", 0, { max: prepared + 2 });
  const consumer = await log.consumer("capture", "g");
  await consumer.commit(stored[prepared + 1]?.offset ?? 0);
  await consumer.close();
  const run = start(["replay", "--from", url, "--group", "g", "--target", db.url, "--follow", "--json"]);
  // Read and started: nothing to play yet.
  for (let i = 0; i < 1500 && !run.stderr().includes("replaying 0 sessions"); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(run.stderr(), /replaying 0 sessions/);
  const producer = await log.producer("capture");
  await producer.append(events.slice(prepared + 2).map(eventRecord));
  await producer.close();
  const done = await stopWhenCommitted(run, log, "capture", "g");
  await log.close();
  assert.equal(done.status, 0, done.stderr);
  const summary = JSON.parse(done.stdout) as ReplaySummary;
  assert.equal(summary.reprepared, 1, done.stdout);
  await checkResumed(summary, done.stdout);
});
