import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { EventPublisher } from "../../../src/capture/publish.ts";
import { DEFAULT_BATCH } from "../../../src/replay/batch.ts";
import { replaySessions } from "../../../src/replay/player.ts";
import { followStream, plansFromStream } from "../../../src/replay/source.ts";
import { openStreamLog, type StreamLog } from "../../../src/stream/index.ts";
import { waitFor } from "../wait.ts";
import { connectEvent, okResponse } from "./events.ts";
import { sandboxForFile } from "./per-file.ts";

// `replay --follow` where the live edge of the stream log matters: what a capture appends while the
// replay runs, as `sluice capture --to` writes it (EventPublisher), played as the CLI plays it
// (followStream and replaySessions).

const sandbox = sandboxForFile("sluice-follow-edge-");

let ts = 1_000_000;
const query = (session: number, seq: number, sql: string, db: string): SessionEvent => ({
  type: "command",
  session,
  seq,
  ts: ts++,
  kind: "query",
  sql,
  db,
});
const close = (session: number, commands: number): SessionEvent => ({
  type: "close",
  session,
  ts: ts++,
  reason: "quit",
  commands,
});

/** One run of `sluice capture --to URL`: publishes `events` into the stream `capture` and ends. */
async function captureRun(url: string, events: SessionEvent[]): Promise<void> {
  const publisher = await EventPublisher.open(url, "capture", "block");
  for (const e of events) publisher.publish(e);
  await publisher.close();
}

/** Starts a --follow replay of `log` for `group`, as the CLI runs it. */
async function follow(log: StreamLog, group: string) {
  const live = await followStream(log, "capture", group, "max", DEFAULT_BATCH);
  const replay = replaySessions(
    [],
    {
      target: sandbox.db().url,
      speed: "max",
      onDone: (c) => (c.offset === undefined ? undefined : live.done(c.offset)),
    },
    live.feed,
  );
  /** Waits until the group has committed every record of the stream. */
  const committed = (what: string) =>
    waitFor(what, async () => (await log.info("capture")).groups.find((g) => g.group === group)?.lag === 0, {
      detail: () => JSON.stringify(live.held()),
    });
  /** Stops reading, lets the sessions finish, and returns the report. */
  const end = async () => {
    await live.finish();
    const result = await replay;
    await live.close();
    return result;
  };
  return { committed, end };
}

/**
 * One capture run writing `parts` into the stream of `url` while a --follow replay plays it: the first
 * part before the replay starts, each next one once the group has committed every record before it.
 * Returns the replay's result and the log (open).
 */
async function followWriting(url: string, group: string, parts: SessionEvent[][]) {
  const publisher = await EventPublisher.open(url, "capture", "block");
  const write = async (events: SessionEvent[] = []) => {
    for (const e of events) publisher.publish(e);
    await publisher.drain();
  };
  await write(parts[0]);
  const log = await openStreamLog(url);
  const run = await follow(log, group);
  try {
    for (const [i, part] of parts.slice(1).entries()) {
      await run.committed(`the records before part ${i + 1} played`);
      await write(part);
    }
    await run.committed("every record played");
  } finally {
    await publisher.close();
  }
  return { result: await run.end(), log };
}

test("--follow: sessions of two capture runs appending to one stream are apart, though both number from 1", async () => {
  const db = sandbox.db();
  await db.query("CREATE DATABASE runs1");
  await db.query("CREATE DATABASE runs2");
  await db.query("CREATE TABLE runs1.t (v INT)");
  await db.query("CREATE TABLE runs2.t (v INT)");
  const url = `file:${join(sandbox.dir(), "runs.db")}`;
  // The first run's session 1 is open when that capture stops (a crash: it is never closed).
  await captureRun(url, [
    connectEvent(1, ts++, "runs1"),
    query(1, 1, "INSERT INTO t VALUES (1)", "runs1"),
    okResponse(1, 1, ts++),
  ]);
  const log = await openStreamLog(url);
  const run = await follow(log, "runs");
  try {
    await run.committed("the first run's records played");
    // The capture started again: its sessions are numbered from 1 again.
    await captureRun(url, [
      connectEvent(1, ts++, "runs2"),
      query(1, 1, "INSERT INTO t VALUES (2)", "runs2"),
      okResponse(1, 1, ts++),
      close(1, 1),
    ]);
    await run.committed("the second run's records played");
  } finally {
    const { summary } = await run.end();
    // Two sessions, each in its own database: the second is not played on the first's connection.
    assert.equal(summary.sessions, 2);
  }
  assert.deepEqual(await db.query("SELECT v FROM runs1.t"), [{ v: 1 }]);
  assert.deepEqual(await db.query("SELECT v FROM runs2.t"), [{ v: 2 }]);
  // Read without --follow, the same two sessions.
  const read = await plansFromStream(log, "capture", "runs-again", "max");
  assert.deepEqual(
    read.plans.map((p) => [p.session, p.connect?.db, p.commands.length]),
    [
      [1, "runs1", 1],
      [1, "runs2", 1],
    ],
  );
  await log.close();
});

test("--follow: a command played before its captured response is read is compared with that response once it comes", async () => {
  const db = sandbox.db();
  await db.query("CREATE DATABASE edge");
  await db.query("CREATE TABLE edge.t (v INT)");
  // The source refused the first INSERT (the target will not).
  const refused: SessionEvent = {
    type: "response",
    session: 1,
    seq: 1,
    ts: ts++,
    kind: "error",
    ok: false,
    errno: 1062,
    sqlState: "23000",
    message: "Duplicate entry '1' for key 'PRIMARY'",
    affectedRows: 0,
    warnings: 0,
    resultSets: 0,
    columns: 0,
    rows: 0,
    latencyUs: 30,
  };
  const { result, log } = await followWriting(`file:${join(sandbox.dir(), "edge.db")}`, "edge", [
    // The capture has written the command, not yet its response (the server is still answering it).
    [connectEvent(1, ts++, "edge"), query(1, 1, "INSERT INTO t VALUES (1)", "edge")],
    // Written once the INSERT was played on the target (its record is committed only once the command
    // is done): its response, and the rest of the session.
    [refused, query(1, 2, "INSERT INTO t VALUES (2)", "edge"), okResponse(1, 2, ts++), close(1, 2)],
  ]);
  await log.close();
  const insert = result.summary.fingerprints.find((f) => f.fingerprint === "insert into t values(?+)");
  assert.equal(insert?.count, 2);
  // Both compared with the source's answers: the first one's error shows as a difference.
  assert.deepEqual(insert?.errorDiffs, [{ source: 1062, target: 0, count: 1 }]);
  assert.deepEqual(await db.query("SELECT v FROM edge.t ORDER BY v"), [{ v: 1 }, { v: 2 }]);
});

test("--follow: a session whose login failed in the capture is not played, as without --follow", async () => {
  const db = sandbox.db();
  await db.query("CREATE DATABASE logins");
  await db.query("CREATE TABLE logins.t (v INT)");
  const session = (s: number): SessionEvent[] => [
    connectEvent(s, ts++, "logins"),
    query(s, 1, `INSERT INTO t VALUES (${s})`, "logins"),
    okResponse(s, 1, ts++),
    close(s, 1),
  ];
  const refused = (s: number): SessionEvent[] => [
    { ...connectEvent(s, ts++, "logins"), authError: { errno: 1045, sqlState: "28000", message: "denied" } },
    { type: "close", session: s, ts: ts++, reason: "auth-failed", commands: 0 },
  ];
  // One of each in the log when the replay starts, one of each written while it follows.
  const { result, log } = await followWriting(`file:${join(sandbox.dir(), "logins.db")}`, "logins", [
    [...refused(1), ...session(2)],
    [...refused(3), ...session(4)],
  ]);
  const read = await plansFromStream(log, "capture", "logins-again", "max");
  await log.close();
  assert.deepEqual(
    read.plans.map((p) => p.session),
    [2, 4],
  );
  assert.equal(result.summary.sessions, read.plans.length);
  assert.deepEqual(await db.query("SELECT v FROM logins.t ORDER BY v"), [{ v: 2 }, { v: 4 }]);
});
