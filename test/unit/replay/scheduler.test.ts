import assert from "node:assert/strict";
import { test } from "node:test";
import type { SessionEvent } from "../../../src/capture/events.ts";
import {
  DriftMeter,
  parseSpeed,
  planSessions,
  Scheduler,
  type SessionPlan,
  waitMs,
} from "../../../src/replay/scheduler.ts";

const T0 = 1_700_000_000_000_000;
const connect = (session: number, ts: number): SessionEvent => ({
  type: "connect",
  session,
  ts,
  client: `127.0.0.1:${40000 + session}`,
  server: "127.0.0.1:3306",
  user: "app",
  db: "shop",
  serverVersion: undefined,
  connectionId: session,
  capabilities: undefined,
  compressed: false,
  tls: false,
  midStream: false,
});
const cmd = (session: number, seq: number, ts: number, sql: string): SessionEvent => ({
  type: "command",
  session,
  seq,
  ts,
  kind: "query",
  sql,
  db: "shop",
});
const resp = (session: number, seq: number, ts: number, rows: number): SessionEvent => ({
  type: "response",
  session,
  seq,
  ts,
  kind: "query",
  ok: true,
  affectedRows: 0,
  warnings: 0,
  resultSets: 1,
  columns: 1,
  rows,
  latencyUs: 100,
});

// Two interleaved sessions; session 2's commands arrive out of seq order in the event list.
const events: SessionEvent[] = [
  connect(1, T0),
  cmd(1, 1, T0 + 1000, "SELECT 1"),
  connect(2, T0 + 1500),
  resp(1, 1, T0 + 1100, 1),
  cmd(2, 2, T0 + 4000, "SELECT b"),
  cmd(2, 1, T0 + 3000, "SELECT a"),
  cmd(1, 2, T0 + 5000, "SELECT 2"),
  resp(1, 2, T0 + 5200, 7),
  { type: "close", session: 1, ts: T0 + 6000, reason: "quit", commands: 2 },
];

test("sessions come out by start time, each with its commands in seq order and their responses", () => {
  const plans = planSessions(events, 1);
  assert.deepEqual(
    plans.map((p) => p.session),
    [1, 2],
  );
  assert.deepEqual(
    plans[0]?.commands.map((c) => [c.command.sql, c.response?.rows]),
    [
      ["SELECT 1", 1],
      ["SELECT 2", 7],
    ],
  );
  assert.deepEqual(
    plans[1]?.commands.map((c) => c.command.sql),
    ["SELECT a", "SELECT b"],
  );
  assert.equal(plans[0]?.closed, true);
  assert.equal(plans[1]?.closed, false);
});

test("planned times follow the captured pacing scaled by the speed factor", () => {
  const at1 = planSessions(events, 1);
  assert.deepEqual(
    at1[0]?.commands.map((c) => c.plannedUs),
    [1000, 5000],
  );
  assert.equal(at1[1]?.openUs, 1500);
  const at2 = planSessions(events, 2);
  assert.deepEqual(
    at2[0]?.commands.map((c) => c.plannedUs),
    [500, 2500],
  );
  const half = planSessions(events, 0.5);
  assert.deepEqual(
    half[1]?.commands.map((c) => c.plannedUs),
    [6000, 8000],
  );
  const max = planSessions(events, "max");
  assert.ok(max.every((p) => p.openUs === 0 && p.commands.every((c) => c.plannedUs === 0)));
});

test("failed logins are not replayed", () => {
  const failed: SessionEvent = {
    ...(connect(3, T0) as Extract<SessionEvent, { type: "connect" }>),
    authError: { errno: 1045, sqlState: "28000", message: "denied" },
  };
  assert.deepEqual(
    planSessions([failed, ...events], 1).map((p) => p.session),
    [1, 2],
  );
});

test("drift p99: the 99th percentile of the samples, early sends counted as 0", () => {
  const d = new DriftMeter();
  assert.equal(d.p99Us, 0, "no samples");
  for (let i = 1; i <= 1000; i++) d.record(0, i * 1000);
  d.record(10, 0);
  assert.ok(Math.abs(d.p99Us - 990_000) <= 1000, String(d.p99Us));
  assert.equal(d.maxUs, 1_000_000);
});

test("parseSpeed accepts factors and max, rejects the rest", () => {
  assert.equal(parseSpeed("2"), 2);
  assert.equal(parseSpeed("0.5"), 0.5);
  assert.equal(parseSpeed("10x"), 10);
  assert.equal(parseSpeed("max"), "max");
  assert.throws(() => parseSpeed("-1"), /positive/);
  assert.throws(() => parseSpeed("fast"), /positive/);
});

test("drift: actual minus planned, mean and max", () => {
  const d = new DriftMeter();
  assert.equal(d.record(1000, 1500), 500);
  assert.equal(d.record(2000, 1900), -100);
  assert.equal(d.count, 2);
  assert.equal(d.meanUs, 200);
  assert.equal(d.maxUs, 500);
  assert.deepEqual(d.summary(), { meanUs: 200, p99Us: 500, maxUs: 500 }, "p99 of two samples is the larger");
  assert.equal(waitMs(5000, 2000), 3);
  assert.equal(waitMs(1000, 2000), 0);
});

test("forgetClosed: a closed session is let go (its plan and what waited for a response), an open one kept", () => {
  const s = new Scheduler("max");
  const announced: SessionPlan[] = [];
  s.onSession = (plan) => announced.push(plan);
  s.add(connect(1, T0));
  s.add(cmd(1, 1, T0 + 1, "SELECT 1"));
  s.forgetClosed();
  for (let n = 2; n <= 501; n++) {
    s.add(connect(n, T0 + n * 10));
    s.add(cmd(n, 1, T0 + n * 10 + 1, "SELECT 1"));
    s.add(resp(n, 1, T0 + n * 10 + 2, 1));
    // COM_STMT_CLOSE and COM_QUIT have no response: nothing waits for one.
    s.add({
      type: "command",
      session: n,
      seq: 2,
      ts: T0 + n * 10 + 3,
      kind: "stmt_close",
      statementId: 1,
      db: "shop",
    });
    s.add({ type: "command", session: n, seq: 3, ts: T0 + n * 10 + 4, kind: "quit", db: "shop" });
    s.add({ type: "close", session: n, ts: T0 + n * 10 + 5, reason: "quit", commands: 3 });
  }
  // Session 1 alone: its plan and its command waiting for the response.
  assert.deepEqual(s.held(), { sessions: 1, commands: 1, waiting: 1 });
  assert.deepEqual(
    s.plans().map((p) => p.session),
    [1],
  );
  // Each session was announced with its connect in its plan, and the closed ones keep their commands.
  assert.equal(announced.length, 501);
  assert.ok(announced.every((p) => p.connect?.session === p.session));
  assert.deepEqual(
    announced[1]?.commands.map((c) => c.command.kind),
    ["query", "stmt_close", "quit"],
  );
  assert.equal(announced[1]?.closed, true);
  s.add(resp(1, 1, T0 + 9000, 1));
  assert.deepEqual(s.held(), { sessions: 1, commands: 1, waiting: 0 });
  assert.equal(announced[0]?.commands[0]?.response?.rows, 1);
});
