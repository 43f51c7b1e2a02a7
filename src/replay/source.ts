import type { SessionEvent } from "../capture/events.ts";
import { decodePcapFile } from "../capture/pcap-file.ts";
import type { Producer, StreamLog } from "../stream/index.ts";
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
    for (const p of plans) {
      const state = p.connect === undefined ? states.get(p.session) : undefined;
      if (state) p.resume = state;
    }
  }
  return { plans, lastOffset };
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
 * Per-command progress of a replay group: the committed position is the lowest command not yet done over
 * all sessions, so the commands done above it are recorded here, after the target answered. A restart
 * skips them. They are written in batches (BatchOptions), one record per batch holding the offsets of
 * its commands (one append, so one SQLite transaction): `record` returns at once while fewer than
 * `maxCommands` are unwritten, else once its record is durable, so at most `maxCommands - 1` commands
 * whose `record` returned are not in the journal yet.
 */
export class ReplayJournal {
  private readonly batcher: Batcher<number>;

  private constructor(
    private readonly log: StreamLog,
    readonly stream: string,
    private readonly producer: Producer,
    /** Command offsets above the committed position that ran already. */
    readonly done: ReadonlySet<number>,
    batch: BatchOptions,
  ) {
    // One record per batch: the offsets of its commands, comma-separated.
    this.batcher = new Batcher(batch, async (offsets) => {
      await this.producer.append([
        { key: "replayed", value: Buffer.from(offsets.join(",")), timestamp: Date.now() },
      ]);
    });
  }

  static async open(
    log: StreamLog,
    stream: string,
    group: string,
    committed: number,
    batch: BatchOptions,
  ): Promise<ReplayJournal> {
    const name = journalStream(stream, group);
    const done = new Set<number>();
    if ((await log.streams()).includes(name)) {
      for (let from = 0; ; ) {
        const read = await log.readText(name, from, { max: 5000 });
        if (read.length === 0) break;
        for (const r of read) {
          for (const text of r.value.split(",")) {
            const offset = Number(text);
            if (offset > committed) done.add(offset);
          }
          from = r.offset + 1;
        }
      }
    }
    const producer = await log.producer(name);
    return new ReplayJournal(log, name, producer, done, batch);
  }

  /** Records a command as executed (see the class comment for when it is durable, and Batcher.add). */
  record(offset: number): Promise<void> | undefined {
    return this.batcher.add(offset);
  }

  /** Writes the records waiting; resolves once they are durable. */
  async flush(): Promise<void> {
    await this.batcher.flush();
  }

  /** Everything up to the last record is committed: the journal is not needed any more. */
  async clear(): Promise<void> {
    await this.close();
    await this.log.deleteStream(this.stream);
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
 * The progress of a replay from the stream log without --follow: the commands an earlier run journalled
 * above the committed position are taken out of the plans, and each command done is journalled and
 * tracked for the committed position, both in batches.
 */
export interface StreamProgress {
  /** Commands an earlier run executed above the committed position (taken out of the plans). */
  readonly skipped: number;
  /** A command record is done with (executed, filtered or skipped); a promise only when there is a wait. */
  done(offset: number): Promise<void> | undefined;
  /** Writes the journal's waiting records and commits the position of what is done. */
  flush(): Promise<void>;
  /**
   * Stops where the replay is (SIGINT/SIGTERM without --follow): a command that completes from now on is
   * recorded, but its `done` never resolves, so its session sends nothing more; resolves once what was
   * done before is written. A restart runs again only the commands that were executing.
   */
  stop(): Promise<void>;
  /** As flush; then deletes the journal when everything read is committed, and closes the consumer. */
  close(): Promise<void>;
}

export async function streamProgress(
  log: StreamLog,
  stream: string,
  group: string,
  read: { plans: SessionPlan[]; lastOffset: number },
  batch: BatchOptions,
): Promise<StreamProgress> {
  const committer = await log.consumer(stream, group);
  const journal = await ReplayJournal.open(log, stream, group, (await committer.committed()) ?? -1, batch);
  if (journal.done.size > 0)
    for (const p of read.plans) {
      // A session's journalled commands are the first of its commands read (it runs them in order): it
      // resumes after them, in the state they left (as a session resumed at the committed position).
      const ran = p.commands.filter((c) => c.offset !== undefined && journal.done.has(c.offset));
      if (ran.length === 0) continue;
      p.resume ??= { db: p.connect?.db, statements: new Map() };
      for (const c of ran) followCommand(p.resume, c.command, c.response);
      p.commands = p.commands.filter((c) => c.offset === undefined || !journal.done.has(c.offset));
    }
  const offsets = read.plans.flatMap((p) =>
    p.commands.flatMap((c) => (c.offset === undefined ? [] : [c.offset])),
  );
  const tracker = new CommitTracker(offsets, read.lastOffset, (o) => committer.commit(o), batch);
  let stopped = false;
  const flush = async () => {
    await journal.flush();
    await tracker.flush();
  };
  // After stop(): the session of a command completing waits for ever (the process exits).
  const halted = new Promise<never>(() => undefined);
  return {
    skipped: journal.done.size,
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
        if (tracker.committedOffset >= read.lastOffset) await journal.clear();
        else await journal.close();
      } finally {
        await committer.close();
      }
    },
  };
}

export interface LiveStream {
  feed: LiveFeed;
  /** Stops reading; the sessions finish what they have. */
  stop(): Promise<void>;
  /** A command record is done with (executed, filtered or skipped). */
  done(offset: number): Promise<void> | undefined;
  /** Commits the final position and closes the consumer. */
  close(): Promise<void>;
}

/**
 * Follows the stream log live: the group's records from its committed position on, as they come,
 * until `stop()`. Commands are committed as they are done, in batches (see CommitTracker).
 */
export async function followStream(
  log: StreamLog,
  stream: string,
  group: string,
  speed: Speed,
  batch: BatchOptions,
): Promise<LiveStream> {
  const consumer = await log.consumer(stream, group, { start: "earliest" });
  const scheduler = new Scheduler(speed);
  const tracker = new CommitTracker([], (await consumer.committed()) ?? -1, (o) => consumer.commit(o), batch);
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
  const pendingSessions: SessionPlan[] = [];
  let play: ((plan: SessionPlan) => void) | undefined;
  scheduler.onSession = (plan) => {
    if (play) play(plan);
    else pendingSessions.push(plan);
  };
  const reading = (async () => {
    while (!ended) {
      const records = await consumer.readText({ max: 5000, waitMs: 200 });
      for (const r of records) {
        const e = eventOf(r.value);
        tracker.read(r.offset, e.type === "command");
        scheduler.add(e, r.offset);
      }
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
  const stop = async () => {
    ended = true;
    await reading.catch(() => undefined);
    notify();
  };
  return {
    feed,
    stop,
    done: (offset) => tracker.done(offset),
    close: async () => {
      try {
        await tracker.close();
      } finally {
        await consumer.close();
      }
    },
  };
}
