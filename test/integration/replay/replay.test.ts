import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { decodePcapFile } from "../../../src/capture/pcap-file.ts";
import { replaySessions, type SessionOutcome } from "../../../src/replay/player.ts";
import { planSessions, type SessionPlan } from "../../../src/replay/scheduler.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { waitFor } from "../wait.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const fixture = (name: string) => join(root, "test/fixtures/pcap", name);

async function plansOf(file: string): Promise<SessionPlan[]> {
  const events: SessionEvent[] = [];
  await decodePcapFile(fixture(file), (e) => events.push(e), { serverPorts: [44991] });
  return planSessions(events, "max");
}

interface LogEntry {
  thread: number;
  command: string;
  text: string;
}

/** The general log's entries (a statement may span several lines). */
function generalLog(file: string): LogEntry[] {
  const out: LogEntry[] = [];
  const head = /^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\s+(\d+)\s+([A-Z][a-z]+(?: [a-z]+)?)\t?(.*)$/;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = head.exec(line);
    if (m) out.push({ thread: Number(m[1]), command: m[2] ?? "", text: m[3] ?? "" });
    else if (out.length > 0 && line !== "") {
      const last = out[out.length - 1];
      if (last) last.text += `\n${line}`;
    }
  }
  return out;
}

/** What the target's general log shows for a captured command. */
function expected(c: { kind: string; sql?: string }): [string, string | undefined] {
  switch (c.kind) {
    case "query":
      return ["Query", c.sql];
    case "init_db":
      return ["Query", `USE \`${c.sql}\``];
    case "stmt_prepare":
      return ["Prepare", c.sql];
    case "stmt_execute":
      return ["Execute", undefined];
    case "stmt_close":
      return ["Close stmt", undefined];
    case "quit":
      return ["Quit", undefined];
    default:
      return [c.kind, undefined];
  }
}

/** Checks, with the target's general log as the witness, that each session ran all its captured commands in order. */
async function assertWitnessed(plans: SessionPlan[], sessions: SessionOutcome[]): Promise<void> {
  const file = db.generalLogFile;
  assert.ok(file);
  // COM_STMT_CLOSE and COM_QUIT get no answer: the replay can be done before the server has logged
  // them, so wait until every session's Quit is in the log.
  const threads = sessions.map((s) => s.threadId);
  const log = await waitFor("every session's Quit in the general log", () => {
    const entries = generalLog(file);
    return threads.every((t) => entries.some((e) => e.thread === t && e.command === "Quit")) && entries;
  });
  assert.equal(sessions.length, plans.length);
  for (const s of sessions) {
    const plan = plans.find((p) => p.session === s.session);
    assert.ok(plan && s.threadId !== undefined, `session ${s.session} connected`);
    const seen = log.filter((e) => e.thread === s.threadId && e.command !== "Connect");
    assert.deepEqual(
      s.executed.map((c) => c.seq),
      plan.commands.map((c) => c.command.seq),
      `session ${s.session}: every command sent, in order`,
    );
    // MariaDB's general log leaves out a prepare that failed to parse (missing_table here): the
    // comparison test checks it was answered with the same error.
    const logged = plan.commands.filter((c) => c.command.kind !== "stmt_prepare" || c.response?.ok !== false);
    const want = logged.map((c) => expected(c.command));
    assert.deepEqual(
      seen.map((e) => e.command),
      want.map((w) => w[0]),
      `session ${s.session}: commands in order`,
    );
    want.forEach(([, text], i) => {
      if (text !== undefined)
        assert.equal(seen[i]?.text.trim(), text.trim(), `session ${s.session} #${i + 1}`);
    });
  }
}

let db: MariadbSandbox;
before(async () => {
  db = await startMariadb({ generalLog: true });
  await db.query("CREATE DATABASE sluice_capture");
});
after(async () => {
  await db?.stop();
});

test("every captured command of every session runs on the target in the session's order (general log as witness)", async () => {
  const plans = [...(await plansOf("cli.pcap")), ...(await plansOf("ps.pcap"))].map((p, i) => ({
    ...p,
    session: i + 1,
  }));
  const captured = plans.reduce((n, p) => n + p.commands.length, 0);
  assert.ok(captured >= 26, String(captured));
  const result = await replaySessions(plans, { target: db.url, speed: "max", maxConnections: 1 });
  await assertWitnessed(plans, result.sessions);
  // Prepared statements ran with the captured parameters.
  const rows = await db.query<{ id: number; name: string; price: string; big: string; note: string | null }>(
    "SELECT id, name, price, CAST(big AS CHAR) AS big, note FROM sluice_capture.ps ORDER BY id",
  );
  assert.deepEqual(
    rows.map((r) => [r.id, r.name, String(r.price), r.big, r.note]),
    [
      [1, "name-1", "12.50", "18446744073709551615", "xxxxxxxxxx"],
      [2, "name-2", "12.50", "18446744073709551615", null],
      [3, "name-3", "12.50", "18446744073709551615", "xxxxxxxxxx"],
    ],
  );
  assert.equal(result.summary.sessions, 2);
  assert.equal(result.summary.differences.errors, 0, JSON.stringify(result.summary.fingerprints));
});

test("a target with a different table shows differing errors and row-count mismatches", async () => {
  await db.query("DROP TABLE sluice_capture.ps");
  await db.query("CREATE TABLE sluice_capture.ps (id INT PRIMARY KEY, name VARCHAR(64))");
  const result = await replaySessions(await plansOf("ps.pcap"), { target: db.url, speed: "max" });
  const fps = result.summary.fingerprints;
  const insert = fps.find((f) => f.fingerprint.startsWith("insert into ps"));
  assert.ok(insert, JSON.stringify(fps.map((f) => f.fingerprint)));
  assert.deepEqual(insert.errorDiffs, [{ source: 0, target: 1054, count: 3 }]);
  const select = fps.find((f) => f.fingerprint.startsWith("select id, name from ps"));
  assert.equal(select?.rowMismatches, 1);
  assert.equal(select?.errorDiffs.length, 0);
  const missing = fps.find((f) => f.fingerprint.includes("missing_table"));
  assert.equal(missing?.errorDiffs.length, 0, "the same error on both sides is no difference");
  assert.ok(result.summary.differences.errors >= 3);
});

test("read-only and dry run: only statements that cannot change data are counted", async () => {
  const result = await replaySessions(await plansOf("cli.pcap"), {
    target: db.url,
    speed: "max",
    dryRun: true,
    filters: { readOnly: true },
  });
  const kinds = result.sessions.flatMap((s) => s.executed.map((c) => c.sql ?? c.kind));
  assert.ok(kinds.includes("SELECT * FROM t WHERE n > 1"));
  assert.ok(!kinds.some((k) => /^(INSERT|UPDATE|DELETE|CREATE|DROP)/.test(k)), kinds.join("|"));
  assert.ok(result.summary.filtered >= 6);
  const counted = result.summary.fingerprints.find((f) => f.fingerprint === "select * from t where n>?");
  assert.equal(counted?.count, 1, JSON.stringify(result.summary.fingerprints.map((f) => f.fingerprint)));
  assert.equal(counted?.target.p99, 0, "nothing ran on the target");
});

test("sysbench oltp_read_write (2 concurrent sessions, server-side prepared statements) replays in order", {
  skip: spawnSync("which", ["sysbench"]).status !== 0 ? "sysbench is not installed" : false,
}, async (t) => {
  await db.query("CREATE DATABASE sbtest");
  const url = new URL(db.url);
  execFileSync(
    "sysbench",
    [
      "oltp_read_write",
      "--mysql-host=127.0.0.1",
      `--mysql-port=${url.port}`,
      "--mysql-user=root",
      "--mysql-db=sbtest",
      "--tables=1",
      "--table-size=1000",
      "prepare",
    ],
    { stdio: "ignore" },
  );
  const plans = await plansOf("sysbench.pcap");
  assert.equal(plans.length, 2);
  const result = await replaySessions(plans, { target: db.url, speed: "max" });
  await assertWitnessed(plans, result.sessions);
  const kinds = plans.flatMap((p) => p.commands.map((c) => c.command.kind));
  // The source's general log for this capture: 22 Prepare, 320 Execute, 22 Close stmt, 2 Quit.
  assert.equal(kinds.filter((k) => k === "stmt_execute").length, 320);
  assert.equal(kinds.filter((k) => k === "stmt_prepare").length, 22);
  const differing = result.summary.fingerprints.filter(
    (f) => f.errorDiffs.length > 0 || f.affectedMismatches > 0 || f.rowMismatches > 0,
  );
  const shown = JSON.stringify(
    differing.map((f) => [f.fingerprint, f.errorDiffs, f.affectedMismatches, f.rowMismatches]),
  );
  // The two sessions write the same table concurrently: replayed at full speed on a loaded machine
  // they can interleave otherwise than captured and deadlock on the target only (1213). The replay
  // reports that, and what follows from it, as differences (docs/replay.md); without one, none.
  if (differing.some((f) => f.errorDiffs.some((d) => d.source === 0 && d.target === 1213)))
    t.diagnostic(`a deadlock on the target only, with what followed from it: ${shown}`);
  else assert.deepEqual(result.summary.differences, { errors: 0, affectedRows: 0, rows: 0 }, shown);
});

test("database mapping and user filter", async () => {
  await db.query("CREATE DATABASE mapped");
  const plans = await plansOf("ps.pcap");
  const result = await replaySessions(plans, {
    target: db.url,
    speed: "max",
    dbMap: new Map([["sluice_capture", "mapped"]]),
  });
  assert.equal(result.summary.differences.errors, 0, JSON.stringify(result.summary.fingerprints));
  const rows = await db.query<{ c: number }>("SELECT COUNT(*) AS c FROM mapped.ps");
  assert.equal(Number(rows[0]?.c), 3);
  const none = await replaySessions(plans, { target: db.url, speed: "max", filters: { users: ["nobody"] } });
  assert.equal(none.summary.commands, 0);
  assert.equal(none.summary.filtered, plans[0]?.commands.length);
});
