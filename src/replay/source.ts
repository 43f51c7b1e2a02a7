import type { SessionEvent } from "../capture/events.ts";
import { decodePcapFile } from "../capture/pcap-file.ts";
import type { Consumer, Producer, StoredTextRecord, StreamLog } from "../stream/index.ts";
import { Batcher, type BatchOptions } from "./batch.ts";
import type { LiveFeed } from "./player.ts";
import { Scheduler, type SessionPlan, type SessionState, type Speed } from "./scheduler.ts";
import { followCommand, noteVariables } from "./session-state.ts";

/** The session event a capture record holds (read as text: capture records are JSON). */
const eventOf = (v: string): SessionEvent => JSON.parse(v) as SessionEvent;

/** Plans from a saved capture file. */
export async function plansFromPcap(
  file: string,
  serverPorts: number[],
  speed: Speed,
): Promise<SessionPlan[]> {
  const s = new Scheduler(speed);
  await decodePcapFile(file, (e) => s.add(e), { serverPorts });
  return s.plans();
}

/**
 * Plans from the stream log: the group's records from its committed position to the stream's head
 * (each command keeps its record's offset), and the offset of the last record read.
 */
export async function plansFromStream(
  log: StreamLog,
  stream: string,
  group: string,
  speed: Speed,
): Promise<{ plans: SessionPlan[]; lastOffset: number | undefined }> {
  const consumer = await log.consumer(stream, group, { start: "earliest" });
  const s = new Scheduler(speed);
  let lastOffset: number | undefined;
  try {
    for (;;) {
      const batch = await consumer.readText({ max: 5000 });
      if (batch.length === 0) break;
      for (const r of batch) {
        s.add(eventOf(r.value), r.offset);
        lastOffset = r.offset;
      }
    }
  } finally {
    await consumer.close();
  }
  const plans = s.plans();
  const committed = plans.some((p) => p.connect === undefined)
    ? await committedOffset(log, stream, group)
    : undefined;
  if (committed !== undefined) {
    const states = await sessionStates(log, stream, committed);
    for (const p of plans) if (p.connect === undefined) resumeFrom(p, states);
  }
  return { plans, lastOffset };
}

/**
 * A session whose connect is before the records read (it began before the committed position) resumes in
 * the state it had there, when it was open there.
 */
function resumeFrom(plan: SessionPlan, states: ReadonlyMap<number, SessionState>): void {
  const state = states.get(plan.session);
  if (state) plan.resume = state;
}

/**
 * Takes the commands an earlier run journalled out of the plans: a session's journalled commands are the
 * first of its commands read (it runs them in order), so it resumes after them, in the state they left (as
 * a session resumed at the committed position).
 */
function skipJournalled(plans: readonly SessionPlan[], done: ReadonlySet<number>): void {
  if (done.size === 0) return;
  for (const p of plans) {
    const ran = p.commands.filter((c) => c.offset !== undefined && done.has(c.offset));
    if (ran.length === 0) continue;
    p.resume ??= { db: p.connect?.db, statements: new Map() };
    for (const c of ran) followCommand(p.resume, c.command, c.response);
    p.commands = p.commands.filter((c) => c.offset === undefined || !done.has(c.offset));
  }
}

async function committedOffset(log: StreamLog, stream: string, group: string): Promise<number | undefined> {
  const c = await log.consumer(stream, group, { start: "earliest" });
  try {
    return await c.committed();
  } finally {
    await c.close();
  }
}

/**
 * Each session's state after the records up to `until` (inclusive): the database it was in and the
 * statements it had prepared (as the PREPARE commands and their responses were captured) and not closed.
 */
export async function sessionStates(
  log: StreamLog,
  stream: string,
  until: number,
): Promise<Map<number, SessionState>> {
  const states = new Map<number, SessionState>();
  const preparing = new Map<string, string>(); // session:seq -> SQL being prepared
  const state = (session: number): SessionState => {
    let st = states.get(session);
    if (!st) {
      st = { db: undefined, statements: new Map() };
      states.set(session, st);
    }
    return st;
  };
  for (let from = 0; from <= until; ) {
    const batch = await log.readText(stream, from, { max: 5000 });
    if (batch.length === 0) break;
    for (const r of batch) {
      if (r.offset > until) return states;
      from = r.offset + 1;
      const e = eventOf(r.value);
      if (e.type === "connect") states.set(e.session, { db: e.db, statements: new Map() });
      else if (e.type === "close") states.delete(e.session);
      else if (e.type === "command") {
        const st = state(e.session);
        if (e.kind === "init_db" && e.sql !== undefined) st.db = e.sql;
        else if (e.db !== undefined) st.db = e.db;
        if (e.kind === "stmt_prepare" && e.sql !== undefined) preparing.set(`${e.session}:${e.seq}`, e.sql);
        if (e.kind === "stmt_close" && e.statementId !== undefined) st.statements.delete(e.statementId);
        noteVariables(st, e);
      } else if (e.type === "response") {
        const key = `${e.session}:${e.seq}`;
        const sql = preparing.get(key);
        preparing.delete(key);
        if (sql !== undefined && e.ok && e.statementId !== undefined)
          state(e.session).statements.set(e.statementId, sql);
      }
    }
  }
  return states;
}

/**
 * Commits a stream position as commands complete: offset N is committed once every command record at or
 * below N is done, so a restart never skips a command that was not executed. The commands not done are
 * kept in offset order (a sorted array walked from its head, which passes over the done ones), so
 * `done`, `read` (offsets come in ascending order) and `safeOffset` take amortised constant time. The
 * position is committed in batches (BatchOptions): every `intervalMs` when it moved, at once when half
 * of `maxCommands` commands were done since the last commit (the command completing it waits for the
 * commit), and by `flush`/`close`.
 */
export class CommitTracker {
  /** Offsets not done yet, at and after `head` (with done ones among them), ascending. */
  private order: number[];
  private head = 0;
  private readonly pending = new Set<number>();
  private committed = -1;
  private doneSinceCommit = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    offsets: Iterable<number>,
    private last: number,
    private readonly commit: (offset: number) => Promise<void>,
    private readonly batch: BatchOptions,
  ) {
    for (const o of offsets) this.pending.add(o);
    this.order = [...this.pending].sort((a, b) => a - b);
    this.timer = setInterval(() => void this.commitNow().catch(() => undefined), batch.intervalMs);
    this.timer.unref();
  }

  /** A record read: `command` records stay pending until done. */
  read(offset: number, command: boolean): void {
    if (command && !this.pending.has(offset)) {
      this.pending.add(offset);
      const tail = this.order.at(-1);
      if (this.head === this.order.length || tail === undefined || offset > tail) this.order.push(offset);
      else {
        let lo = this.head;
        let hi = this.order.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((this.order[mid] as number) < offset) lo = mid + 1;
          else hi = mid;
        }
        this.order.splice(lo, 0, offset);
      }
    }
    if (offset > this.last) this.last = offset;
  }

  /** The offset that can be committed now: below the lowest command not done, else the last record read. */
  safeOffset(): number {
    return this.head < this.order.length ? (this.order[this.head] as number) - 1 : this.last;
  }

  /** The offset of the last record read. */
  get lastRead(): number {
    return this.last;
  }

  /** The offset last committed (-1 before the first commit). */
  get committedOffset(): number {
    return this.committed;
  }

  /** A command is done; a promise (of the commit) only when this one completes a batch. */
  done(offset: number): Promise<void> | undefined {
    if (this.failure) throw this.failure.error;
    if (!this.pending.delete(offset)) return undefined;
    while (this.head < this.order.length && !this.pending.has(this.order[this.head] as number)) this.head++;
    if (this.head === this.order.length) {
      this.order = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    if (++this.doneSinceCommit >= Math.ceil(this.batch.maxCommands / 2)) return this.commitNow();
    return undefined;
  }

  /** Commits what is done now (after the commits already started). */
  async flush(): Promise<void> {
    await this.commitNow();
  }

  /** Commits what is done and stops committing on the timer. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.commitNow();
  }

  private commitNow(): Promise<void> {
    this.doneSinceCommit = 0;
    const run = this.chain.then(async () => {
      if (this.failure) throw this.failure.error;
      const safe = this.safeOffset();
      if (safe <= this.committed) return;
      await this.commit(safe);
      this.committed = safe;
    });
    this.chain = run.catch((error) => {
      this.failure ??= { error };
    });
    return run;
  }
}

/** The stream holding the offsets of commands a replay group executed above its committed position. */
export function journalStream(stream: string, group: string): string {
  return `${stream}.replayed.${group}`.slice(0, 120);
}

/**
 * The journal's two streams: it is written to one of them until it holds JOURNAL_ROTATE_RECORDS records,
 * then to the other, and a stream no longer written to is deleted once the committed position is past
 * every offset in it. (The same name twice when the names are cut to the same 120 characters: then the
 * journal is one stream, deleted only when everything read is committed.)
 */
export function journalStreams(stream: string, group: string): [string, string] {
  return [journalStream(stream, group), `${stream}.replayed2.${group}`.slice(0, 120)];
}

/** Records (batches) a journal stream takes before the journal moves to its other stream. */
export const JOURNAL_ROTATE_RECORDS = 1000;

/** A journal stream: how many records it holds and the highest offset in them. */
interface JournalPart {
  name: string;
  records: number;
  max: number;
}

/**
 * Per-command progress of a replay group: the committed position is the lowest command not yet done over
 * all sessions, so the commands done above it are recorded here, after the target answered. A restart
 * skips them. They are written in batches (BatchOptions), one record per batch holding the offsets of
 * its commands (one append, so one SQLite transaction): `record` returns at once while fewer than
 * `maxCommands` are unwritten, else once its record is durable, so at most `maxCommands - 1` commands
 * whose `record` returned are not in the journal yet.
 *
 * A record is obsolete once the committed position is past its offsets. So that a run that never ends
 * (--follow) keeps the journal bounded although the stream log cannot delete single records, the journal
 * alternates between two streams (see journalStreams): one written to, and at most one older one,
 * deleted (after a journal write) once the durably committed position is past its highest offset.
 */
export class ReplayJournal {
  private readonly batcher: Batcher<number>;
  private readonly skippedAtOpen: number;

  private constructor(
    private readonly log: StreamLog,
    private readonly names: readonly [string, string],
    private current: JournalPart,
    private producer: Producer,
    /** The stream written to before `current`, while it holds offsets above the committed position. */
    private old: JournalPart | undefined,
    private readonly ran: Set<number>,
    batch: BatchOptions,
    /** The durably committed position now. */
    private readonly committed: () => number,
    private readonly rotateAfter: number,
  ) {
    this.skippedAtOpen = ran.size;
    // One record per batch: the offsets of its commands, comma-separated.
    this.batcher = new Batcher(batch, async (offsets) => {
      await this.producer.append([
        { key: "replayed", value: Buffer.from(offsets.join(",")), timestamp: Date.now() },
      ]);
      this.current.records++;
      for (const o of offsets) if (o > this.current.max) this.current.max = o;
      await this.trim();
    });
  }

  /**
   * Reads the group's journal (the offsets above `committed`), deletes its streams that hold none, and
   * opens it for writing. `committedNow` tells the durably committed position as the run goes on.
   */
  static async open(
    log: StreamLog,
    stream: string,
    group: string,
    committed: number,
    batch: BatchOptions,
    committedNow: () => number = () => committed,
    rotateAfter = JOURNAL_ROTATE_RECORDS,
  ): Promise<ReplayJournal> {
    const names = journalStreams(stream, group);
    const done = new Set<number>();
    const existing = await log.streams();
    const parts: JournalPart[] = [];
    for (const name of new Set(names)) {
      if (!existing.includes(name)) continue;
      const part: JournalPart = { name, records: 0, max: -1 };
      for (let from = 0; ; ) {
        const read = await log.readText(name, from, { max: 5000 });
        if (read.length === 0) break;
        for (const r of read) {
          for (const text of r.value.split(",")) {
            const offset = Number(text);
            if (offset > part.max) part.max = offset;
            if (offset > committed) done.add(offset);
          }
          part.records++;
          from = r.offset + 1;
        }
      }
      // Every offset in it is committed: not needed any more.
      if (part.max <= committed) await log.deleteStream(name);
      else parts.push(part);
    }
    const current = parts[0] ?? { name: names[0], records: 0, max: -1 };
    const producer = await log.producer(current.name);
    return new ReplayJournal(log, names, current, producer, parts[1], done, batch, committedNow, rotateAfter);
  }

  /**
   * Command offsets above the committed position that an earlier run executed (see forget). They are all
   * among the records in the log when the run starts, which are read before anything is played.
   */
  get done(): ReadonlySet<number> {
    return this.ran;
  }

  /** How many commands the earlier runs executed above the committed position (as read at open). */
  get skipped(): number {
    return this.skippedAtOpen;
  }

  /**
   * The records up to `offset` (inclusive) are read and their journalled commands taken out of the plans:
   * their offsets are not needed any more.
   */
  forget(offset: number): void {
    for (const o of this.ran) if (o <= offset) this.ran.delete(o);
  }

  /** The streams the journal has now (the one written to first). */
  get streams(): string[] {
    return this.old ? [this.current.name, this.old.name] : [this.current.name];
  }

  /** Records a command as executed (see the class comment for when it is durable, and Batcher.add). */
  record(offset: number): Promise<void> | undefined {
    return this.batcher.add(offset);
  }

  /** Writes the records waiting; resolves once they are durable. */
  async flush(): Promise<void> {
    await this.batcher.flush();
  }

  /**
   * After a write: deletes the older stream once the committed position is past it, then moves to the
   * other stream when this one is full and the other is gone.
   */
  private async trim(): Promise<void> {
    const committed = this.committed();
    if (this.old && this.old.max <= committed) {
      await this.log.deleteStream(this.old.name);
      this.old = undefined;
    }
    const other = this.names.find((n) => n !== this.current.name);
    if (this.old || other === undefined || this.current.records < this.rotateAfter) return;
    await this.producer.close();
    if (this.current.max <= committed) await this.log.deleteStream(this.current.name);
    else this.old = this.current;
    this.current = { name: other, records: 0, max: -1 };
    this.producer = await this.log.producer(other);
  }

  /** Everything up to the last record is committed: the journal is not needed any more. */
  async clear(): Promise<void> {
    await this.close();
    for (const name of this.streams) await this.log.deleteStream(name);
  }

  async close(): Promise<void> {
    try {
      await this.batcher.flush();
    } finally {
      await this.producer.close();
    }
  }
}

/**
 * The progress of a replay from the stream log: the commands an earlier run journalled above the committed
 * position are taken out of the plans, and each command done is journalled and tracked for the committed
 * position, both in batches.
 */
export interface StreamProgress {
  /** Commands an earlier run executed above the committed position (taken out of the plans). */
  readonly skipped: number;
  /** A command record is done with (executed, filtered or skipped); a promise only when there is a wait. */
  done(offset: number): Promise<void> | undefined;
  /** Writes the journal's waiting records and commits the position of what is done. */
  flush(): Promise<void>;
  /**
   * Stops where the replay is (SIGINT/SIGTERM): a command that completes from now on is recorded, but its
   * `done` never resolves, so its session sends nothing more; resolves once what was done before is
   * written. A restart runs again only the commands that were executing.
   */
  stop(): Promise<void>;
  /** As flush; then deletes the journal when everything read is committed, and closes the consumer. */
  close(): Promise<void>;
}

/** The journal and the commit tracker of a run, written in their order (journal first) at each step. */
function progressOf(journal: ReplayJournal, tracker: CommitTracker, committer: Consumer): StreamProgress {
  let stopped = false;
  const flush = async () => {
    await journal.flush();
    await tracker.flush();
  };
  // After stop(): the session of a command completing waits for ever (the process exits).
  const halted = new Promise<never>(() => undefined);
  return {
    skipped: journal.skipped,
    done(offset) {
      const recorded = journal.record(offset);
      const tracked = recorded ? recorded.then(() => tracker.done(offset)) : tracker.done(offset);
      if (!tracked) return stopped ? halted : undefined;
      return tracked.then(() => (stopped ? halted : undefined));
    },
    flush,
    async stop() {
      stopped = true;
      await flush();
    },
    async close() {
      try {
        await journal.flush();
        await tracker.close();
        // Only once the position is durably past every record read is the journal not needed.
        if (tracker.committedOffset >= tracker.lastRead) await journal.clear();
        else await journal.close();
      } finally {
        await committer.close();
      }
    },
  };
}

export async function streamProgress(
  log: StreamLog,
  stream: string,
  group: string,
  read: { plans: SessionPlan[]; lastOffset: number },
  batch: BatchOptions,
): Promise<StreamProgress> {
  const committer = await log.consumer(stream, group);
  const committed = (await committer.committed()) ?? -1;
  let tracker: CommitTracker | undefined;
  const journal = await ReplayJournal.open(log, stream, group, committed, batch, () =>
    Math.max(committed, tracker?.committedOffset ?? -1),
  );
  skipJournalled(read.plans, journal.done);
  journal.forget(read.lastOffset);
  const offsets = read.plans.flatMap((p) =>
    p.commands.flatMap((c) => (c.offset === undefined ? [] : [c.offset])),
  );
  tracker = new CommitTracker(offsets, read.lastOffset, (o) => committer.commit(o), batch);
  return progressOf(journal, tracker, committer);
}

/**
 * A replay following the stream log live: its progress is kept as without --follow (StreamProgress: the
 * journal and the committed position, `stop` for a signal), and it has sessions that keep coming.
 */
export interface LiveStream extends StreamProgress {
  /**
   * How many sessions the records in the log at the start have (resumed ones with their state): the feed
   * announces them first.
   */
  sessionsAtStart: number;
  feed: LiveFeed;
  /** Stops reading; the sessions finish what they have. */
  finish(): Promise<void>;
  /**
   * What the reading side holds now: the plans of the sessions not closed yet in the capture (`sessions`),
   * their `commands` (the player lets go of those it played) and those `waiting` for a response, and the
   * sessions read but not yet handed to the player (`announcing`). A closed session is let go, so these
   * are bounded by the sessions open, not by the traffic seen.
   */
  held(): { sessions: number; commands: number; waiting: number; announcing: number };
}

/**
 * Follows the stream log live: the group's records from its committed position on, as they come, until
 * `finish()`. The records already in the log are read first, as without --follow: a session that began
 * before the committed position gets its state back (sessionStates), and the commands an earlier run
 * journalled are skipped (they are all in these records, which the earlier run had read). Commands are
 * journalled and committed as they are done, in batches (see ReplayJournal and CommitTracker).
 *
 * It runs for ever, so it keeps nothing of a finished session: every session, those read at the start
 * too, goes to the player through the feed, the scheduler lets go of a session once it is closed in the
 * capture (Scheduler.forgetClosed), and the journalled offsets are let go once the records at the start
 * are read.
 */
export async function followStream(
  log: StreamLog,
  stream: string,
  group: string,
  speed: Speed,
  batch: BatchOptions,
): Promise<LiveStream> {
  const consumer = await log.consumer(stream, group, { start: "earliest" });
  const committed = await consumer.committed();
  let tracker: CommitTracker | undefined;
  const journal = await ReplayJournal.open(log, stream, group, committed ?? -1, batch, () =>
    Math.max(committed ?? -1, tracker?.committedOffset ?? -1),
  );
  tracker = new CommitTracker([], committed ?? -1, (o) => consumer.commit(o), batch);
  const t = tracker;
  // The sessions open at the committed position, for those of them that come (a session's first record
  // read is not its connect); taken out when they come.
  const states =
    committed === undefined ? new Map<number, SessionState>() : await sessionStates(log, stream, committed);
  const scheduler = new Scheduler(speed);
  const add = (records: readonly StoredTextRecord[]) => {
    for (const r of records) {
      const e = eventOf(r.value);
      t.read(r.offset, e.type === "command" && !journal.done.has(r.offset));
      scheduler.add(e, r.offset);
    }
  };
  // The records in the log now (up to its head at the start, while the capture may go on writing).
  const head = (await log.info(stream)).partitions[0]?.head;
  for (let last = -1; head !== undefined && last < head; ) {
    const records = await consumer.readText({ max: 5000 });
    if (records.length === 0) break;
    add(records);
    last = records.at(-1)?.offset ?? last;
  }
  const plans = scheduler.plans();
  for (const p of plans) {
    if (p.connect === undefined) resumeFrom(p, states);
    states.delete(p.session);
  }
  skipJournalled(plans, journal.done);
  // Every journalled offset is among the records read now (the earlier run had read them).
  journal.forget(t.lastRead);
  scheduler.forgetClosed();

  let ended = false;
  let wake: (() => void) | undefined;
  let wakeup = new Promise<void>((r) => {
    wake = r;
  });
  const notify = () => {
    const w = wake;
    wakeup = new Promise<void>((r) => {
      wake = r;
    });
    w?.();
  };
  // The sessions read at the start first, then those that come before the player takes them.
  const pendingSessions: SessionPlan[] = plans;
  let play: ((plan: SessionPlan) => void) | undefined;
  scheduler.onSession = (plan, first) => {
    if (first.type !== "connect") resumeFrom(plan, states);
    states.delete(plan.session);
    if (play) play(plan);
    else pendingSessions.push(plan);
  };
  const reading = (async () => {
    while (!ended) {
      const records = await consumer.readText({ max: 5000, waitMs: 200 });
      add(records);
      if (records.length > 0) notify();
    }
  })();
  const feed: LiveFeed = {
    get ended() {
      return ended;
    },
    changed: () => wakeup,
    onSession(p) {
      play = p;
      for (const plan of pendingSessions.splice(0)) p(plan);
    },
    finished: reading,
  };
  const progress = progressOf(journal, tracker, consumer);
  return {
    ...progress,
    sessionsAtStart: plans.length,
    feed,
    async finish() {
      ended = true;
      await reading.catch(() => undefined);
      notify();
    },
    held: () => ({ ...scheduler.held(), announcing: pendingSessions.length }),
  };
}
