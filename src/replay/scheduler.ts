import * as hdr from "hdr-histogram-js";
import type { CommandEvent, ConnectEvent, ResponseEvent, SessionEvent } from "../capture/events.ts";
import type { SessionVariables } from "./session-state.ts";

/** Captured pacing scaled by a factor (2 = twice as fast), or "max": as fast as the target answers. */
export type Speed = number | "max";

export interface PlannedCommand {
  command: CommandEvent;
  /** The source's answer, when it was captured. */
  response: ResponseEvent | undefined;
  /** When to send it, in microseconds after the replay started (0 for every command at "max"). */
  plannedUs: number;
  /** The stream log offset of the command's record, when it came from the stream log. */
  offset?: number;
}

export interface SessionPlan {
  session: number;
  connect: ConnectEvent | undefined;
  /** When to open the target connection, microseconds after the replay started. */
  openUs: number;
  commands: PlannedCommand[];
  /** The source session was closed in the capture (otherwise it was still open when it ended). */
  closed: boolean;
  /**
   * A session resumed mid-way (its start is before the stream position replayed from): the state it had
   * there, rebuilt from the earlier records: its database and the statements it had prepared and not closed.
   */
  resume?: SessionState;
}

/** A session's state at a point of the capture. */
export interface SessionState {
  db: string | undefined;
  /** Captured statement id -> SQL. */
  statements: Map<number, string>;
  /** Session and user variables, temporary tables and transaction, as its earlier commands left them. */
  variables?: SessionVariables;
}

/** Parses `--speed`: a positive factor or "max". */
export function parseSpeed(value: string): Speed {
  if (value === "max" || value === "0") return "max";
  const n = Number(value.replace(/x$/, ""));
  if (!Number.isFinite(n) || n <= 0)
    throw new TypeError(`speed must be a positive factor or 'max', got '${value}'`);
  return n;
}

/** Microseconds after the start at which something captured at `ts` is due. */
export function plannedOffset(ts: number, firstTs: number, speed: Speed): number {
  if (speed === "max") return 0;
  return Math.max(0, (ts - firstTs) / speed);
}

/** Commands the server never answers: nothing waits for their response. */
const UNANSWERED = new Set(["stmt_close", "stmt_send_long_data", "quit"]);

/**
 * Turns session events (in capture order) into one ordered command queue per session, each command
 * paired with the source's response and given a planned send time. Sessions come out in the order
 * they started; commands of a session in their captured order (by seq).
 *
 * A live replay (`forgetClosed`) has it let go of each session once it is closed in the capture (its
 * player holds the plan), so that what it holds is bounded by the sessions open, not by the traffic seen.
 */
export class Scheduler {
  private readonly sessions = new Map<number, SessionPlan>();
  /** Per session: seq -> the command waiting for its response (numbers as keys: no string made per event). */
  private readonly pending = new Map<number, Map<number, PlannedCommand>>();
  private firstTs: number | undefined;
  private forgetting = false;

  /**
   * Called when a session is seen for the first time, with that first event once it is in the plan
   * (live replay starts playing it then; a session whose first event is not its connect began before the
   * records read).
   */
  onSession: ((plan: SessionPlan, first: SessionEvent) => void) | undefined;

  constructor(private readonly speed: Speed) {}

  /**
   * From now on a session's plan is dropped when its close is added (plans() no longer has it); the
   * sessions closed already are dropped now.
   */
  forgetClosed(): void {
    this.forgetting = true;
    for (const [session, plan] of this.sessions) if (plan.closed) this.sessions.delete(session);
  }

  /** What it holds: the sessions' plans, their commands, and the commands waiting for a response. */
  held(): { sessions: number; commands: number; waiting: number } {
    let commands = 0;
    for (const p of this.sessions.values()) commands += p.commands.length;
    let waiting = 0;
    for (const w of this.pending.values()) waiting += w.size;
    return { sessions: this.sessions.size, commands, waiting };
  }

  add(e: SessionEvent, offset?: number): void {
    if (e.type === "resync") return;
    if (this.firstTs === undefined) this.firstTs = e.ts;
    const at = plannedOffset(e.ts, this.firstTs, this.speed);
    let plan = this.sessions.get(e.session);
    const first = !plan;
    if (!plan) {
      plan = { session: e.session, connect: undefined, openUs: at, commands: [], closed: false };
      this.sessions.set(e.session, plan);
    }
    switch (e.type) {
      case "connect":
        plan.connect = e;
        break;
      case "command": {
        const planned: PlannedCommand = { command: e, response: undefined, plannedUs: at };
        if (offset !== undefined) planned.offset = offset;
        plan.commands.push(planned);
        if (UNANSWERED.has(e.kind)) break;
        let waiting = this.pending.get(e.session);
        if (!waiting) {
          waiting = new Map();
          this.pending.set(e.session, waiting);
        }
        waiting.set(e.seq, planned);
        break;
      }
      case "response": {
        const waiting = this.pending.get(e.session);
        const planned = waiting?.get(e.seq);
        if (planned) {
          planned.response = e;
          waiting?.delete(e.seq);
        }
        break;
      }
      case "close":
        plan.closed = true;
        // Nothing more comes for it: no response either.
        this.pending.delete(e.session);
        if (this.forgetting) this.sessions.delete(e.session);
        break;
    }
    if (first) this.onSession?.(plan, e);
  }

  /** The plans, sessions by start time, each session's commands by seq. */
  plans(): SessionPlan[] {
    const out = [...this.sessions.values()].filter((p) => p.connect?.authError === undefined);
    for (const p of out) p.commands.sort((a, b) => a.command.seq - b.command.seq);
    return out.sort((a, b) => a.openUs - b.openUs || a.session - b.session);
  }
}

/** Plans for a whole list of events. */
export function planSessions(events: Iterable<SessionEvent>, speed: Speed): SessionPlan[] {
  const s = new Scheduler(speed);
  for (const e of events) s.add(e);
  return s.plans();
}

/** Drift between planned and actual send times (actual later than planned is positive). */
export class DriftMeter {
  count = 0;
  maxUs = 0;
  private sumUs = 0;
  /** Every sample (clamped to 0..1 h), for the percentiles. */
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

  record(plannedUs: number, actualUs: number): number {
    const drift = actualUs - plannedUs;
    this.count++;
    this.sumUs += drift;
    if (drift > this.maxUs) this.maxUs = drift;
    this.histogram.recordValue(Math.min(3_600_000_000, Math.max(0, Math.round(drift))));
    return drift;
  }

  get meanUs(): number {
    return this.count === 0 ? 0 : this.sumUs / this.count;
  }

  /** 99th percentile, microseconds (0 without samples). */
  get p99Us(): number {
    return this.count === 0 ? 0 : this.histogram.getValueAtPercentile(99);
  }

  /** Mean, p99 and max, microseconds, as the report has them. */
  summary(): { meanUs: number; p99Us: number; maxUs: number } {
    return { meanUs: this.meanUs, p99Us: this.p99Us, maxUs: this.maxUs };
  }
}

/** Milliseconds to wait before sending something planned at `plannedUs`, `elapsedUs` into the replay. */
export function waitMs(plannedUs: number, elapsedUs: number): number {
  return Math.max(0, (plannedUs - elapsedUs) / 1000);
}
