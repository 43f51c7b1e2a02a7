import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { decodePcapFile } from "../../../src/capture/pcap-file.ts";
import { eventRecord } from "../../../src/capture/publish.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import { root, startCli as start, stopWhenCommitted } from "./cli-run.ts";

const SESSIONS = 4;
const PER_SESSION = 1000;

/** A capture of SESSIONS clients, each inserting its numbered rows one by one, interleaved in time. */
function capture(): SessionEvent[] {
  const events: SessionEvent[] = [];
  let ts = 1_000_000;
  for (let s = 1; s <= SESSIONS; s++)
    events.push({
      type: "connect",
      session: s,
      ts: ts++,
      client: `127.0.0.1:${40000 + s}`,
      server: "127.0.0.1:3306",
      user: "root",
      db: "kr",
      serverVersion: undefined,
      connectionId: s,
      capabilities: undefined,
      compressed: false,
      tls: false,
      midStream: false,
    });
  for (let n = 0; n < PER_SESSION; n++)
    for (let s = 1; s <= SESSIONS; s++) {
      const seq = n + 1;
      events.push({
        type: "command",
        session: s,
        seq,
        ts: ts++,
        kind: "query",
        sql: `INSERT INTO t (s, n) VALUES (${s}, ${n})`,
        db: "kr",
      });
      events.push({
        type: "response",
        session: s,
        seq,
        ts: ts++,
        kind: "ok",
        ok: true,
        affectedRows: 1,
        warnings: 0,
        resultSets: 0,
        columns: 0,
        rows: 0,
        latencyUs: 50,
      });
    }
  for (let s = 1; s <= SESSIONS; s++)
    events.push({ type: "close", session: s, ts: ts++, reason: "fin", commands: PER_SESSION });
  return events;
}

let db: MariadbSandbox;
let dir: string;
before(async () => {
  db = await startMariadb();
  dir = mkdtempSync(join(tmpdir(), "sluice-kill-"));
});
after(async () => {
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The (session, n) pairs of the captured INSERTs the target ran, in the general log's order. */
async function ran(): Promise<Array<{ s: number; n: number }>> {
  const rows = await db.query<{ argument: string | Buffer }>(
    "SELECT argument FROM mysql.general_log WHERE command_type = 'Query' AND argument LIKE 'INSERT INTO t (s, n)%'",
  );
  return rows.map((r) => {
    const m = /VALUES \((\d+), (\d+)\)/.exec(String(r.argument));
    return { s: Number(m?.[1]), n: Number(m?.[2]) };
  });
}

async function ranCount(): Promise<number> {
  const rows = await db.query<{ c: number }>(
    "SELECT COUNT(*) AS c FROM mysql.general_log WHERE command_type = 'Query' AND argument LIKE 'INSERT INTO t (s, n)%'",
  );
  return Number(rows[0]?.c);
}

/** How the replay is stopped and started again. */
interface Interruption {
  signal: NodeJS.Signals;
  /** Both runs with --follow: the second is stopped with SIGINT once the group has committed everything. */
  follow?: boolean;
  /** The signal sent again once the first was handled. */
  again?: boolean;
  /** The second run's options, when not `options`. */
  resumeOptions?: string[];
}

/**
 * Replays the capture from the stream log with `options`, stops the CLI with `signal` once the target has
 * run a quarter of it (whatever the timing), starts it again, and checks with the general log as witness:
 * every command of every session ran, in its order, except that the second run started again at most
 * `maxBack` commands back in a session, and at most `maxReruns` commands ran twice in all (the table
 * holds exactly that many extra rows). With --follow, the second run is stopped once everything is
 * committed, and the journal is gone then.
 */
async function interruptAndResume(
  name: string,
  options: string[],
  stop: NodeJS.Signals | Interruption,
  bound: { maxBack: number; maxReruns: number },
): Promise<void> {
  const how: Interruption = typeof stop === "string" ? { signal: stop } : stop;
  const signal = how.signal;
  await db.query("CREATE DATABASE IF NOT EXISTS kr");
  await db.query("DROP TABLE IF EXISTS kr.t");
  await db.query("CREATE TABLE kr.t (s INT, n INT)");
  await db.query("SET GLOBAL log_output = 'TABLE'");
  await db.query("SET GLOBAL general_log = 0");
  await db.query("TRUNCATE mysql.general_log");
  await db.query("SET GLOBAL general_log = 1");

  const url = `file:${join(dir, `${name}.db`)}`;
  const log = await openStreamLog(url);
  const producer = await log.producer("capture");
  await producer.append(capture().map(eventRecord));
  await producer.close();

  const args = ["replay", "--from", url, "--group", "g", "--target", db.url, "--speed", "max", "--json"];
  if (how.follow) args.push("--follow");
  const first = start([...args, ...options]);
  const total = SESSIONS * PER_SESSION;
  let seen = 0;
  for (let i = 0; i < 1500 && seen < total / 4; i++) {
    seen = await ranCount();
    if (seen < total / 4) await new Promise((r) => setTimeout(r, 20));
  }
  first.child.kill(signal);
  if (how.again) {
    // Once the first was handled (two signals sent at once may arrive as one).
    for (let i = 0; i < 1500 && !first.stderr().includes(`${signal}: reading stopped`); i++)
      await new Promise((r) => setTimeout(r, 20));
    first.child.kill(signal);
  }
  const stopped = await first.done;
  const status = signal === "SIGKILL" ? null : 128 + (constants.signals[signal] ?? 0);
  assert.equal(stopped.status, status, `stopped mid-run: ${stopped.stderr}`);
  const before = await ranCount();
  assert.ok(before > 0 && before < total, `stopped mid-run after ${before} commands`);

  const second = start([...args, ...(how.resumeOptions ?? options)]);
  // With --follow: stopped once everything in the log is committed (then nothing is left to run).
  const resumed = how.follow ? await stopWhenCommitted(second, log, "capture", "g") : await second.done;
  assert.equal(resumed.status, 0, resumed.stderr);
  // Everything is committed: the journal is not needed any more.
  const streams = await log.streams();
  assert.deepEqual(
    streams.filter((n) => n.includes(".replayed")),
    [],
  );
  await log.close();

  const all = await ran();
  let reruns = 0;
  for (let s = 1; s <= SESSIONS; s++) {
    const ns = all.filter((r) => r.s === s).map((r) => r.n);
    // Order: the session's numbers ascend, except that the second run may start again up to maxBack back.
    let expected = 0;
    let restarted = false;
    for (const n of ns) {
      if (n === expected) expected++;
      else if (!restarted && n < expected && expected - n <= bound.maxBack) {
        restarted = true;
        reruns += expected - n;
        expected = n + 1;
      } else assert.fail(`session ${s}: ran ${n} where ${expected} was next (${ns.join(",")})`);
    }
    assert.equal(expected, PER_SESSION, `session ${s} ran every command`);
  }
  assert.ok(reruns <= bound.maxReruns, `${reruns} commands ran twice, at most ${bound.maxReruns} expected`);
  const rows = await db.query<{ c: number }>("SELECT COUNT(*) AS c FROM kr.t");
  assert.equal(Number(rows[0]?.c), total + reruns);
}

test("sluice replay --from --commit-batch 1: killed with SIGKILL mid-run and started again, every command runs, in order, re-runs only what was executing (one per session)", async () => {
  await interruptAndResume("each", ["--commit-batch", "1"], "SIGKILL", {
    maxBack: 1,
    maxReruns: SESSIONS,
  });
});

test("sluice replay --from --commit-batch B: killed with SIGKILL mid-run and started again, re-runs at most what was executing plus B-1 commands not yet journalled", async () => {
  const B = 50;
  // Unjournalled at the kill: at most B-1 commands whose record returned (a session's are its last ones),
  // plus one per session executing or waiting for its batch to be written.
  await interruptAndResume("batch", ["--commit-batch", String(B)], "SIGKILL", {
    maxBack: B,
    maxReruns: SESSIONS + B - 1,
  });
});

test("sluice replay --from stopped with SIGTERM: what is done is written before it exits, so only the commands executing run again, whatever the batch", async () => {
  // Batches that would never be written during the run: only the flush at the signal writes them.
  await interruptAndResume(
    "sigterm",
    ["--commit-batch", "1000000", "--commit-interval", "3600000"],
    "SIGTERM",
    { maxBack: 1, maxReruns: SESSIONS },
  );
});

test("sluice replay --follow --commit-batch B: killed with SIGKILL mid-run and followed again, the same bound as without --follow", async () => {
  const B = 50;
  await interruptAndResume(
    "follow-batch",
    ["--commit-batch", String(B)],
    { signal: "SIGKILL", follow: true },
    { maxBack: B, maxReruns: SESSIONS + B - 1 },
  );
});

test("sluice replay --follow stopped with a second SIGTERM: what is done is written before it exits, so only the commands executing run again, whatever the batch", async () => {
  // The first signal stops reading (the sessions would play what was read), the second stops the sessions
  // where they are; batches that would never be written during the run: only the write at the signal
  // writes them. Paced (--speed 0.002: the capture's 8 ms over 4 s) so that the second signal comes while
  // the sessions play what was read.
  await interruptAndResume(
    "follow-sigterm",
    ["--commit-batch", "1000000", "--commit-interval", "3600000", "--speed", "0.002"],
    // Followed again with the default batches, so that the position reaches the head while it runs.
    { signal: "SIGTERM", follow: true, again: true, resumeOptions: [] },
    { maxBack: 1, maxReruns: SESSIONS },
  );
});

test("sluice replay --from resumed after a PREPARE: the session prepares its statement again, nothing is skipped", async () => {
  const events: SessionEvent[] = [];
  await decodePcapFile(join(root, "test/fixtures/pcap/ps.pcap"), (e) => events.push(e), {
    serverPorts: [44991],
  });
  const url = `file:${join(dir, "ps.db")}`;
  const log = await openStreamLog(url);
  const producer = await log.producer("capture");
  await producer.append(events.map(eventRecord));
  await producer.close();
  // As if an earlier run had executed everything up to the SELECT's prepare, and stopped there.
  const prepareAt = events.findIndex(
    (e) => e.type === "command" && e.kind === "stmt_prepare" && e.sql?.startsWith("SELECT"),
  );
  const stored = await log.read("capture", 0, { max: 10_000 });
  const consumer = await log.consumer("capture", "resume");
  await consumer.commit((stored[prepareAt + 1]?.offset ?? 0) as number);
  await consumer.close();
  await log.close();
  await db.query("CREATE DATABASE IF NOT EXISTS sluice_capture");
  await db.query("DROP TABLE IF EXISTS sluice_capture.ps");
  await db.query("CREATE TABLE sluice_capture.ps (id INT PRIMARY KEY, name VARCHAR(32))");
  await db.query("TRUNCATE mysql.general_log");

  const r = await start([
    "replay",
    "--from",
    url,
    "--group",
    "resume",
    "--target",
    db.url,
    "--speed",
    "max",
    "--json",
  ]).done;
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.ok(summary.reprepared >= 1, r.stdout);
  assert.equal(summary.skipped, 0, r.stdout);
  assert.equal(summary.differences.errors, 0, r.stdout);
  const fps = summary.fingerprints.map((f: { fingerprint: string }) => f.fingerprint);
  assert.ok(fps.includes("select id, name from ps where id>=? order by id"), fps.join("|"));
  const prepares = await db.query<{ argument: string | Buffer }>(
    "SELECT argument FROM mysql.general_log WHERE command_type = 'Prepare'",
  );
  assert.ok(
    prepares.some((p) => String(p.argument).startsWith("SELECT")),
    prepares.map((p) => String(p.argument)).join("|"),
  );
});
