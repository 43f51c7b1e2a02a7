import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Batcher } from "../../../src/replay/batch.ts";
import { isReadOnlyStatement, memoBySql, parseMapping } from "../../../src/replay/player.ts";
import { CommitTracker } from "../../../src/replay/source.ts";

/** Commits the tracker makes, and the offsets done when each was made. */
function recorder() {
  const done = new Set<number>();
  const commits: { offset: number; done: Set<number> }[] = [];
  const commit = async (offset: number) => {
    commits.push({ offset, done: new Set(done) });
  };
  return { done, commits, commit };
}

/** The highest offset below which every command is done: the lowest not done minus one, else the last read. */
function expectedSafe(commands: readonly number[], done: ReadonlySet<number>, last: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (const o of commands) if (!done.has(o) && o < min) min = o;
  return min === Number.POSITIVE_INFINITY ? last : min - 1;
}

/** No timer commits during a test: the batches are cut by count and by flush/close only. */
const NEVER = 3_600_000;

test("commits only up to the lowest command not done yet", async () => {
  const commits: number[] = [];
  const t = new CommitTracker(
    [3, 5, 8],
    10,
    async (o) => {
      commits.push(o);
    },
    { intervalMs: NEVER, maxCommands: 1 },
  );
  assert.equal(t.safeOffset(), 2);
  await t.done(5);
  assert.deepEqual(commits, [2], "3 is still in flight");
  await t.done(3);
  assert.deepEqual(commits, [2, 7]);
  await t.done(8);
  assert.deepEqual(commits, [2, 7, 10]);
  await t.close();
  assert.deepEqual(commits, [2, 7, 10], "no commit twice");
});

test("commits once half of maxCommands are done, and the rest at close", async () => {
  const r = recorder();
  const t = new CommitTracker([0, 1, 2, 3, 4, 5, 6], 9, r.commit, { intervalMs: NEVER, maxCommands: 6 });
  for (const o of [0, 1]) await t.done(o);
  assert.equal(r.commits.length, 0, "two done, a commit every three");
  await t.done(2);
  assert.deepEqual(
    r.commits.map((c) => c.offset),
    [2],
  );
  for (const o of [4, 5, 6]) await t.done(o);
  assert.deepEqual(
    r.commits.map((c) => c.offset),
    [2],
    "3 is not done: the position cannot move",
  );
  await t.done(3);
  await t.close();
  assert.deepEqual(
    r.commits.map((c) => c.offset),
    [2, 9],
  );
  assert.equal(t.committedOffset, 9);
});

test("commits on the timer once the position moved", async () => {
  let committed: (offset: number) => void = () => undefined;
  const first = new Promise<number>((resolve) => {
    committed = resolve;
  });
  const t = new CommitTracker([4, 7], 7, async (o) => committed(o), { intervalMs: 5, maxCommands: 100 });
  // The tracker's timer does not hold the process open (a replay's connections do): this test does.
  const alive = setInterval(() => undefined, 1000);
  try {
    await t.done(4);
    assert.equal(await first, 6, "committed without a flush, below 7 which is not done");
  } finally {
    clearInterval(alive);
    await t.close();
  }
});

test("CommitTracker: whatever order commands complete in, every commit is an offset below which all are done, and the last one is the highest such offset", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 150 }),
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 1, max: 12 }),
      fc.infiniteStream(fc.integer({ min: 0, max: 1_000_000 })),
      async (offsets, tailGap, maxCommands, picks) => {
        const commands = [...offsets].sort((a, b) => a - b);
        const last = (commands.at(-1) ?? 0) + tailGap;
        const r = recorder();
        const t = new CommitTracker(offsets, last, r.commit, { intervalMs: NEVER, maxCommands });
        const left = [...offsets];
        const p = picks[Symbol.iterator]();
        while (left.length > 0) {
          const i = (p.next().value as number) % left.length;
          const [o] = left.splice(i, 1) as [number];
          r.done.add(o);
          await t.done(o);
          assert.equal(t.safeOffset(), expectedSafe(commands, r.done, last));
        }
        await t.close();
        let previous = -1;
        for (const c of r.commits) {
          assert.ok(c.offset > previous, "commits only move forward");
          previous = c.offset;
          for (const o of commands) if (o <= c.offset) assert.ok(c.done.has(o), `${o} committed before done`);
        }
        assert.equal(r.commits.at(-1)?.offset, last, "everything done: the last record read is committed");
        assert.ok(
          r.commits.length <= Math.floor(commands.length / Math.ceil(maxCommands / 2)) + 1,
          "one commit per batch",
        );
      },
    ),
    { numRuns: 300 },
  );
});

test("CommitTracker following a stream: records read as they come (some commands) and commands done in any order", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ command: fc.boolean(), gap: fc.integer({ min: 1, max: 3 }) }), {
        minLength: 1,
        maxLength: 120,
      }),
      fc.array(fc.nat(), { minLength: 120, maxLength: 120 }),
      fc.integer({ min: 1, max: 8 }),
      async (records, picks, maxCommands) => {
        const r = recorder();
        const start = 4;
        const t = new CommitTracker([], start, r.commit, { intervalMs: NEVER, maxCommands });
        const commands: number[] = [];
        const running: number[] = [];
        let last = start;
        for (const [i, rec] of records.entries()) {
          last += rec.gap;
          t.read(last, rec.command);
          if (rec.command) {
            commands.push(last);
            running.push(last);
          }
          // Some of the running commands finish between two reads.
          for (let k = (picks[i] ?? 0) % 3; k > 0 && running.length > 0; k--) {
            const [o] = running.splice((picks[(i + k) % picks.length] ?? 0) % running.length, 1) as [number];
            r.done.add(o);
            await t.done(o);
          }
          assert.equal(t.safeOffset(), expectedSafe(commands, r.done, last));
        }
        for (const o of running) {
          r.done.add(o);
          await t.done(o);
        }
        await t.close();
        for (const c of r.commits)
          for (const o of commands) if (o <= c.offset) assert.ok(c.done.has(o), `${o} committed before done`);
        assert.equal(t.committedOffset, last);
      },
    ),
    { numRuns: 300 },
  );
});

/** A Batcher whose writes (the batches in `written`) wait until `release()`. */
function gatedBatcher(maxCommands: number) {
  const written: number[][] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const b = new Batcher<number>({ intervalMs: NEVER, maxCommands }, async (items) => {
    await gate;
    written.push(items);
  });
  return { b, written, release };
}

test("Batcher: adds return at once below maxCommands, the one that fills a batch waits for its write; writes in order", async () => {
  const { b, written, release } = gatedBatcher(3);
  assert.equal(b.add(1), undefined, "nothing to wait for");
  assert.equal(b.add(2), undefined);
  assert.equal(b.unwritten, 2);
  let third = false;
  const adding = b.add(3)?.then(() => {
    third = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(third, false, "the third add waits for the write");
  assert.ok(adding);
  release();
  await adding;
  assert.deepEqual(written, [[1, 2, 3]]);
  assert.equal(b.add(4), undefined);
  assert.deepEqual(written, [[1, 2, 3]], "the fourth waits for the next batch");
  await b.flush();
  assert.deepEqual(written, [[1, 2, 3], [4]]);
  assert.equal(b.unwritten, 0);
});

test("Batcher: the items added while a write is in flight make one batch after it, not a write each", async () => {
  const { b, written, release } = gatedBatcher(2);
  assert.equal(b.add(1), undefined);
  const adds = [b.add(2)];
  await new Promise((r) => setImmediate(r)); // the write of 1 and 2 has started, and waits
  adds.push(b.add(3), b.add(4), b.add(5));
  assert.ok(
    adds.every((a) => a !== undefined),
    "each of them waits for its item written",
  );
  release();
  await Promise.all(adds);
  assert.deepEqual(written, [
    [1, 2],
    [3, 4, 5],
  ]);
});

test("Batcher: maxCommands 1 writes each item before add returns; a failed write fails what comes after", async () => {
  const written: number[] = [];
  const b = new Batcher<number>({ intervalMs: NEVER, maxCommands: 1 }, async (items) => {
    if (items.includes(3)) throw new Error("disk full");
    written.push(...items);
  });
  await b.add(1);
  assert.deepEqual(written, [1]);
  await b.add(2);
  assert.deepEqual(written, [1, 2]);
  await assert.rejects(async () => b.add(3), /disk full/);
  await assert.rejects(async () => b.add(4), /disk full/);
  await assert.rejects(b.flush(), /disk full/);
  assert.deepEqual(written, [1, 2]);
});

test("read-only statements", () => {
  for (const sql of [
    "SELECT 1",
    " select * from t",
    "SHOW TABLES",
    "/* x */ SELECT 1",
    "EXPLAIN SELECT 1",
    "(SELECT 1)",
  ])
    assert.ok(isReadOnlyStatement(sql), sql);
  for (const sql of [
    "INSERT INTO t VALUES (1)",
    "UPDATE t SET a = 1",
    "SELECT * FROM t FOR UPDATE",
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    "SELECT 1; DELETE FROM t",
    "CREATE TABLE t (a INT)",
    "/*!40101 SET NAMES utf8 */",
  ])
    assert.ok(!isReadOnlyStatement(sql), sql);
});

test("mappings parse from=to and reject the rest", () => {
  assert.deepEqual(
    [...parseMapping(["a=b", "c=d=e"], "db")],
    [
      ["a", "b"],
      ["c", "d=e"],
    ],
  );
  assert.throws(() => parseMapping(["ab"], "db"), /--db-map expects from=to/);
});

test("memoBySql: one call per distinct text, the same answers as without it, emptied at its size", () => {
  const calls: string[] = [];
  const upper = memoBySql((sql: string) => {
    calls.push(sql);
    return sql.toUpperCase();
  }, 3);
  for (const sql of ["a", "b", "a", "a", "b"]) assert.equal(upper(sql), sql.toUpperCase());
  assert.deepEqual(calls, ["a", "b"]);
  // Falsy answers are remembered too.
  const readOnly = memoBySql((sql: string) => {
    calls.push(sql);
    return isReadOnlyStatement(sql);
  });
  calls.length = 0;
  assert.equal(readOnly("delete from t"), false);
  assert.equal(readOnly("delete from t"), false);
  assert.deepEqual(calls, ["delete from t"]);
  // "c" fills it (a, b, c); "d" finds it full and empties it: still the right answers, "c" computed again.
  calls.length = 0;
  for (const sql of ["c", "d", "e", "c", "d"]) assert.equal(upper(sql), sql.toUpperCase());
  assert.deepEqual(calls, ["c", "d", "e", "c"]);
});
