import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { DEFAULT_BATCH } from "../../../src/replay/batch.ts";
import { type ReplayOptions, type ReplayStatus, replaySessions } from "../../../src/replay/player.ts";
import { followStream } from "../../../src/replay/source.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import { waitFor } from "../wait.ts";
import { appendEvents, connectEvent, resultsetResponse } from "./events.ts";

// What a `replay --follow` holds (sessions, commands, commands waiting for a response, sessions being
// played) is counted after each round of sessions has been played: it stays what the sessions still open
// in the capture need, however many sessions were played before.

const ROUNDS = 4;
/** Sessions opened and closed in each round. */
const PER_ROUND = 60;
const COMMANDS = 4;
/** A session open for the whole run (never closed in the capture): COMMANDS more of its commands a round. */
const OPEN = 1_000_000;

let ts = 1_000_000;
/** `n` queries of `session` (seq from `seq`), each with its response. */
function queries(session: number, seq: number, n: number): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (let k = seq; k < seq + n; k++) {
    out.push({ type: "command", session, seq: k, ts: ts++, kind: "query", sql: `SELECT ${k}`, db: "fm" });
    out.push(resultsetResponse(session, k, ts++));
  }
  return out;
}

/** One round: PER_ROUND whole sessions (connect, queries, quit, close), and more of the open session. */
function round(r: number): SessionEvent[] {
  const out: SessionEvent[] = [];
  if (r === 0) out.push(connectEvent(OPEN, ts++, "fm"));
  out.push(...queries(OPEN, r * COMMANDS + 1, COMMANDS));
  for (let i = 1; i <= PER_ROUND; i++) {
    const s = r * PER_ROUND + i;
    out.push(connectEvent(s, ts++, "fm"), ...queries(s, 1, COMMANDS));
    out.push({ type: "command", session: s, seq: COMMANDS + 1, ts: ts++, kind: "quit", db: "fm" });
    out.push({ type: "close", session: s, ts: ts++, reason: "quit", commands: COMMANDS + 1 });
  }
  return out;
}

let db: MariadbSandbox;
let dir: string;
before(async () => {
  db = await startMariadb();
  await db.query("CREATE DATABASE fm");
  dir = mkdtempSync(join(tmpdir(), "sluice-follow-memory-"));
});
after(async () => {
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Commands in the first `rounds` rounds: queries, and all of them (with the quits). */
const queriesIn = (rounds: number) => rounds * (PER_ROUND + 1) * COMMANDS;
const commandsIn = (rounds: number) => queriesIn(rounds) + rounds * PER_ROUND;

/**
 * Replays ROUNDS rounds with --follow (the first in the log at the start, the others appended while it
 * runs) as the CLI does; after each round, once every record is committed, what is held. `counted`:
 * the commands the status counts (ok + error + skipped + filtered).
 */
async function followRounds(group: string, options: Partial<ReplayOptions>) {
  const log = await openStreamLog(`file:${join(dir, `${group}.db`)}`);
  await appendEvents(log, "capture", round(0));
  const live = await followStream(log, "capture", group, "max", DEFAULT_BATCH);
  assert.equal(live.sessionsAtStart, PER_ROUND + 1);
  let status: (() => Promise<ReplayStatus>) | undefined;
  const replay = replaySessions(
    [],
    {
      target: db.url,
      speed: "max",
      onStatus: (read) => {
        status = read;
      },
      onDone: (c) => (c.offset === undefined ? undefined : live.done(c.offset)),
      ...options,
    },
    live.feed,
  );
  const heldAfter: unknown[] = [];
  const counted: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      if (r > 0) await appendEvents(log, "capture", round(r));
      // Every record done with and committed, and the finished sessions let go.
      const held = await waitFor(
        `round ${r} played and let go`,
        async () => {
          const lag = (await log.info("capture")).groups.find((g) => g.group === group)?.lag;
          const s = await status?.();
          const h = { ...live.held(), playing: s?.sessionsHeld };
          return lag === 0 && h.playing === 1 && h.commands === 0 && h;
        },
        { detail: () => JSON.stringify(live.held()) },
      );
      heldAfter.push(held);
      const s = await status?.();
      counted.push((s?.ok ?? 0) + (s?.error ?? 0) + (s?.skipped ?? 0) + (s?.filtered ?? 0));
    }
  } finally {
    await live.finish();
  }
  const result = await replay;
  await live.close();
  await log.close();
  return { heldAfter, counted, ...result };
}

/**
 * The open session alone: its plan, none of its commands (all played), nothing waiting for an answer,
 * and its one task in the player; the same after the last round as after the first.
 */
const BOUND = Array.from({ length: ROUNDS }, () => ({
  sessions: 1,
  commands: 0,
  waiting: 0,
  announcing: 0,
  playing: 1,
}));

test("--follow holds only the sessions still open, however many sessions it has played", async () => {
  const { heldAfter, counted, summary, sessions } = await followRounds("bounded", {});
  assert.deepEqual(heldAfter, BOUND);
  assert.deepEqual(
    counted,
    BOUND.map((_, r) => queriesIn(r + 1)),
  );
  // The report still counts everything played; no outcome is kept per session.
  assert.equal(summary.sessions, ROUNDS * PER_ROUND + 1);
  assert.equal(summary.commands, queriesIn(ROUNDS));
  assert.equal(summary.fingerprints.find((f) => f.fingerprint === "select ?")?.count, summary.commands);
  assert.deepEqual(sessions, []);
});

test("--follow with sessions filtered out (--user) or that cannot connect: their commands are done with as they come", async () => {
  // Each session's commands count (and are committed) as they come, until its close: the committed
  // position reaches the head after each round, and the same is held as when they are played.
  const filtered = await followRounds("filtered", { filters: { users: ["nobody"] } });
  assert.deepEqual(filtered.heldAfter, BOUND);
  assert.deepEqual(
    filtered.counted,
    BOUND.map((_, r) => commandsIn(r + 1)),
  );
  assert.equal(filtered.summary.filtered, commandsIn(ROUNDS));
  assert.equal(filtered.summary.commands, 0);
  // Nothing listens on port 1: every connect fails.
  const refused = await followRounds("refused", { target: "mysql://root@127.0.0.1:1" });
  assert.deepEqual(refused.heldAfter, BOUND);
  assert.equal(refused.summary.skipped, commandsIn(ROUNDS));
  assert.equal(refused.summary.commands, 0);
});
