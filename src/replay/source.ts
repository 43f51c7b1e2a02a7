import type { SessionEvent } from "../capture/events.ts";
import { decodePcapFile } from "../capture/pcap-file.ts";
import type { Producer, StreamLog } from "../stream/index.ts";
import type { LiveFeed } from "./player.ts";
import { Scheduler, type SessionPlan, type SessionState, type Speed } from "./scheduler.ts";

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
      const batch = await consumer.read({ max: 5000 });
      if (batch.length === 0) break;
      for (const r of batch) {
        s.add(JSON.parse(Buffer.from(r.value).toString("utf8")) as SessionEvent, r.offset);
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
    const batch = await log.read(stream, from, { max: 5000 });
    if (batch.length === 0) break;
    for (const r of batch) {
      if (r.offset > until) return states;
      from = r.offset + 1;
      const e = JSON.parse(Buffer.from(r.value).toString("utf8")) as SessionEvent;
      if (e.type === "connect") states.set(e.session, { db: e.db, statements: new Map() });
      else if (e.type === "close") states.delete(e.session);
      else if (e.type === "command") {
        const st = state(e.session);
        if (e.kind === "init_db" && e.sql !== undefined) st.db = e.sql;
        else if (e.db !== undefined) st.db = e.db;
        if (e.kind === "stmt_prepare" && e.sql !== undefined) preparing.set(`${e.session}:${e.seq}`, e.sql);
        if (e.kind === "stmt_close" && e.statementId !== undefined) st.statements.delete(e.statementId);
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
 * below N is done, so a restart never skips a command that was not executed (and repeats none that was,
 * beyond those in flight).
 */
export class CommitTracker {
  private readonly pending = new Set<number>();
  private committed = -1;

  constructor(
    offsets: Iterable<number>,
    private last: number,
    private readonly commit: (offset: number) => Promise<void>,
  ) {
    for (const o of offsets) this.pending.add(o);
  }

  /** A record read: `command` records stay pending until done. */
  read(offset: number, command: boolean): void {
    if (command) this.pending.add(offset);
    if (offset > this.last) this.last = offset;
  }

  /** The offset that can be committed now. */
  safeOffset(): number {
    let min = Number.POSITIVE_INFINITY;
    for (const o of this.pending) if (o < min) min = o;
    return min === Number.POSITIVE_INFINITY ? this.last : min - 1;
  }

  async done(offset: number): Promise<void> {
    this.pending.delete(offset);
    const safe = this.safeOffset();
    if (safe > this.committed) {
      this.committed = safe;
      await this.commit(safe);
    }
  }

  async finish(): Promise<void> {
    const safe = this.safeOffset();
    if (safe > this.committed) {
      this.committed = safe;
      await this.commit(safe);
    }
  }
}

/** The stream holding the offsets of commands a replay group executed above its committed position. */
export function journalStream(stream: string, group: string): string {
  return `${stream}.replayed.${group}`.slice(0, 120);
}

/**
 * Per-command progress of a replay group: the committed position is the lowest command not yet done over
 * all sessions, so commands other sessions executed above it are recorded here, one record per command,
 * before the command counts as done. A restart skips them: only commands that were executing when the
 * replay stopped (at most one per session) run again.
 */
export class ReplayJournal {
  private constructor(
    private readonly log: StreamLog,
    readonly stream: string,
    private readonly producer: Producer,
    /** Command offsets above the committed position that ran already. */
    readonly done: ReadonlySet<number>,
  ) {}

  static async open(
    log: StreamLog,
    stream: string,
    group: string,
    committed: number,
  ): Promise<ReplayJournal> {
    const name = journalStream(stream, group);
    const done = new Set<number>();
    if ((await log.streams()).includes(name)) {
      for (let from = 0; ; ) {
        const batch = await log.read(name, from, { max: 5000 });
        if (batch.length === 0) break;
        for (const r of batch) {
          const offset = Number(Buffer.from(r.value).toString("utf8"));
          if (offset > committed) done.add(offset);
          from = r.offset + 1;
        }
      }
    }
    return new ReplayJournal(log, name, await log.producer(name), done);
  }

  /** Records a command as executed; resolves once durable. */
  async record(offset: number): Promise<void> {
    await this.producer.append([
      { key: "replayed", value: Buffer.from(String(offset)), timestamp: Date.now() },
    ]);
  }

  /** Everything up to the last record is committed: the journal is not needed any more. */
  async clear(): Promise<void> {
    await this.producer.close();
    await this.log.deleteStream(this.stream);
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}

export interface LiveStream {
  feed: LiveFeed;
  /** Stops reading; the sessions finish what they have. */
  stop(): Promise<void>;
  /** A command record is done with (executed, filtered or skipped). */
  done(offset: number): Promise<void>;
  /** Commits the final position and closes the consumer. */
  close(): Promise<void>;
}

/**
 * Follows the stream log live: the group's records from its committed position on, as they come,
 * until `stop()`. Every command is committed once done (see CommitTracker).
 */
export async function followStream(
  log: StreamLog,
  stream: string,
  group: string,
  speed: Speed,
): Promise<LiveStream> {
  const consumer = await log.consumer(stream, group, { start: "earliest" });
  const scheduler = new Scheduler(speed);
  const tracker = new CommitTracker([], (await consumer.committed()) ?? -1, (o) => consumer.commit(o));
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
      const batch = await consumer.read({ max: 5000, waitMs: 200 });
      for (const r of batch) {
        const e = JSON.parse(Buffer.from(r.value).toString("utf8")) as SessionEvent;
        tracker.read(r.offset, e.type === "command");
        scheduler.add(e, r.offset);
      }
      if (batch.length > 0) {
        notify();
        await tracker.finish();
      }
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
      await tracker.finish();
      await consumer.close();
    },
  };
}
