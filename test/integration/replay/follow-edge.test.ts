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
