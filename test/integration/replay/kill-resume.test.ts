import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { decodePcapFile } from "../../../src/capture/pcap-file.ts";
import { eventRecord } from "../../../src/capture/publish.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog } from "../../../src/stream/index.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const env = { ...process.env, SLUICE_FROM_SOURCE: "1" };
const SESSIONS = 4;
const PER_SESSION = 400;

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

interface Done {
  status: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Done> } {
  const child = spawn(process.execPath, ["bin/sluice.js", ...args], { cwd: root, env });
  let stderr = "";
  let stdout = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<Done>((resolve) =>
    child.on("close", (status) => resolve({ status, stdout, stderr })),
  );
  return { child, done };
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

test("sluice replay --from: killed with SIGKILL mid-run and started again, every command runs, in order, re-runs only what was in flight", async () => {
  await db.query("CREATE DATABASE kr");
  await db.query("CREATE TABLE kr.t (s INT, n INT)");
  await db.query("SET GLOBAL log_output = 'TABLE'");
  await db.query("TRUNCATE mysql.general_log");
  await db.query("SET GLOBAL general_log = 1");

  const url = `file:${join(dir, "log.db")}`;
  const log = await openStreamLog(url);
  const producer = await log.producer("capture");
  await producer.append(capture().map(eventRecord));
  await producer.close();
  await log.close();

  const args = ["replay", "--from", url, "--group", "g", "--target", db.url, "--speed", "max", "--json"];
  const first = start(args);
  // Killed once the target has run part of the workload, whatever the timing.
  let seen = 0;
  for (let i = 0; i < 600 && seen < (SESSIONS * PER_SESSION) / 4; i++) {
    seen = (await ran()).length;
    if (seen < (SESSIONS * PER_SESSION) / 4) await new Promise((r) => setTimeout(r, 20));
  }
  first.child.kill("SIGKILL");
  const killed = await first.done;
  assert.equal(killed.status, null, `killed mid-run: ${killed.stderr}`);
  const before = (await ran()).length;
  assert.ok(before > 0 && before < SESSIONS * PER_SESSION, `killed mid-run after ${before} commands`);

  const second = await start(args).done;
  assert.equal(second.status, 0, second.stderr);

  const all = await ran();
  let reruns = 0;
  for (let s = 1; s <= SESSIONS; s++) {
    const ns = all.filter((r) => r.s === s).map((r) => r.n);
    // Order: the session's numbers ascend, except that the second run may start again at most one back.
    let expected = 0;
    let restarted = false;
    for (const n of ns) {
      if (n === expected) expected++;
      else if (!restarted && n === expected - 1) {
        restarted = true;
        reruns++;
        expected = n + 1;
      } else assert.fail(`session ${s}: ran ${n} where ${expected} was next (${ns.join(",")})`);
    }
    assert.equal(expected, PER_SESSION, `session ${s} ran every command`);
  }
  assert.ok(reruns <= SESSIONS, `${reruns} commands ran twice`);
  const rows = await db.query<{ c: number }>("SELECT COUNT(*) AS c FROM kr.t");
  assert.equal(Number(rows[0]?.c), SESSIONS * PER_SESSION + reruns);
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
