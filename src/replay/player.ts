import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import type { CommandEvent } from "../capture/events.ts";
import { fingerprint } from "../capture/fingerprint.ts";
import { SluiceError } from "../core/errors.ts";
import { parseMysqlUrl, redactUrl } from "../core/url.ts";
import {
  type Answer,
  Comparison,
  type ComparisonTotals,
  DEFAULT_SLOW_MS,
  type IntervalFigures,
  type PlanComparison,
  planOf,
  type ReplaySummary,
} from "./report.ts";
import { DriftMeter, type PlannedCommand, type SessionPlan, type Speed, waitMs } from "./scheduler.ts";
import { boundSql, paramValue } from "./sql-text.ts";

export interface ReplayFilters {
  /** Only statements that cannot change data (SELECT, SHOW, ...); other commands like ping still go. */
  readOnly?: boolean;
  /** Only sessions/commands in these (source) databases. */
  databases?: string[];
  /** Only sessions of these (source) users. */
  users?: string[];
  /** Only statements whose fingerprint matches. */
  fingerprint?: RegExp;
}

export interface ReplayOptions {
  target: string;
  speed: Speed;
  /** Most target connections open at once; sessions beyond it wait (reported as lag). Default 100. */
  maxConnections?: number;
  dbMap?: ReadonlyMap<string, string>;
  userMap?: ReadonlyMap<string, string>;
  filters?: ReplayFilters;
  dryRun?: boolean;
  /**
   * EXPLAIN one sample of each SELECT fingerprint (sent with COM_QUERY) on the target once the replay is
   * done, and on `source` when given; the report lists the plans and those that differ.
   */
  explain?: { source?: string };
  /** Called every `progressIntervalMs` with the figures since the previous call. */
  onProgress?: (p: ReplayProgress) => void;
  progressIntervalMs?: number;
  /** A command slower than this on the target (ms) counts as slow (default 1000). */
  slowMs?: number;
  /**
   * With a live feed: how many records the stream log holds beyond the group's committed position
   * (head - committed), read for each progress line and each status read.
   */
  streamLag?: () => Promise<number | undefined>;
  /** Called once at the start with a function that reads the running figures (for the metrics). */
  onStatus?: (read: () => Promise<ReplayStatus>) => void;
  /** Called once each command is done with: executed, filtered out or skipped (for committing stream positions). */
  onDone?: (c: PlannedCommand) => void | Promise<void>;
}

/** How far a live replay is behind the capture (undefined fields: not known, or not a live replay). */
export interface BehindCapture {
  /**
   * Now minus the capture time of the newest command done (executed, filtered or skipped), ms; 0 once
   * every record of the stream log is committed (nothing left to replay).
   */
  behindCaptureMs?: number;
  /** Records the stream log holds beyond the group's committed position (head - committed). */
  uncommittedRecords?: number;
}

/** The figures of one progress interval (see IntervalFigures) and the replay's state at its end. */
export interface ReplayProgress extends IntervalFigures, BehindCapture {
  elapsedMs: number;
  /** The interval these figures are of, ms. */
  intervalMs: number;
  commandsPerSecond: number;
  /** The slow threshold, ms. */
  slowMs: number;
  sessionsOpen: number;
  sessionsWaiting: number;
  /** How far the latest command was sent after its planned time, ms (0 at max speed). */
  lagMs: number;
}

/** The running figures of a replay, read at any time (the Prometheus metrics read them when scraped). */
export interface ReplayStatus extends ComparisonTotals, BehindCapture {
  sessionsOpen: number;
  sessionsWaiting: number;
  /**
   * Sessions the player holds: started and not finished (open, waiting for a connection or for their
   * time). A finished session is let go (with a live feed, its outcome too).
   */
  sessionsHeld: number;
  /** Scheduling lag: how far the latest command was sent after its planned time, ms. */
  lagMs: number;
  /** A live replay (--follow): the behind-capture figures apply. */
  live: boolean;
}

/**
 * Sessions that keep coming (a stream log followed live): new sessions are announced to `onSession`,
 * and a session that has played all its commands so far waits on `changed()` until it has more, is
 * closed, or the feed has `ended`.
 */
export interface LiveFeed {
  /** Nothing more comes: the reading has stopped and everything it read is in the plans. */
  readonly ended: boolean;
  changed(): Promise<void>;
  onSession(play: (plan: SessionPlan) => void): void;
  /** Resolves when the feed has ended. */
  finished: Promise<void>;
}

export interface SessionOutcome {
  session: number;
  /** The target's connection id, undefined when it could not connect or in a dry run. */
  threadId: number | undefined;
  /** The commands sent to the target, in order. */
  executed: CommandEvent[];
  connectError?: string;
}

export interface ReplayResult {
  summary: ReplaySummary;
  /** By session; empty with a live feed (a run that never ends keeps nothing per session). */
  sessions: SessionOutcome[];
}

const READ_ONLY = /^\s*(?:\(\s*)*(?:select|show|desc|describe|explain|help|values|table)\b/i;
const WRITES_ANYWAY =
  /\bfor\s+update\b|\block\s+in\s+share\s+mode\b|\binto\s+(?:outfile|dumpfile|@)|\bnextval\s*\(/i;

/** Whether a statement cannot change data (comments stripped first). */
export function isReadOnlyStatement(sql: string): boolean {
  const s = sql.replace(/\/\*(?!!)[\s\S]*?\*\//g, " ").replace(/^\s*(?:--[^\n]*|#[^\n]*)\n/gm, "");
  return READ_ONLY.test(s) && !WRITES_ANYWAY.test(s) && !/;\s*\S/.test(s.trim().replace(/;\s*$/, ""));
}

/** Parses repeated `a=b` options into a map. */
export function parseMapping(pairs: readonly string[], what: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw new SluiceError("USAGE_MAPPING", `--${what}-map expects from=to, got '${p}'`);
    m.set(p.slice(0, i), p.slice(i + 1));
  }
  return m;
}

class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  waiting = 0;
  constructor(n: number) {
    this.free = n;
  }
  /** Takes a slot; true when it had to wait for one. */
  async acquire(): Promise<boolean> {
    if (this.free > 0) {
      this.free--;
      return false;
    }
    this.waiting++;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.waiting--;
    return true;
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

interface ResultHeader {
  affectedRows?: number;
}

/** Affected rows and result rows of a mysql2 result (one statement or several). */
function measure(results: unknown): { affectedRows: number; rows: number } {
  if (!Array.isArray(results)) return { affectedRows: (results as ResultHeader)?.affectedRows ?? 0, rows: 0 };
  const multi =
    results.length > 0 &&
    results.every((r) => Array.isArray(r) || r?.constructor?.name === "ResultSetHeader");
  if (!multi) return { affectedRows: 0, rows: results.length };
  let affectedRows = 0;
  let rows = 0;
  for (const r of results) {
    if (Array.isArray(r)) rows += r.length;
    else affectedRows += (r as ResultHeader).affectedRows ?? 0;
  }
  return { affectedRows, rows };
}

/** The source's answer: the captured response itself (it has every field of an Answer; no copy per command). */
const sourceAnswer = (c: PlannedCommand): Answer | undefined => c.response;

/**
 * A function of a statement's text, remembered by text: a prepared statement's executions all have its
 * SQL, so they are fingerprinted (and classified) once, not once each. The memory is emptied when it
 * holds `max` texts (statements with literals in them seldom repeat).
 */
export function memoBySql<T>(f: (sql: string) => T, max = 10_000): (sql: string) => T {
  const known = new Map<string, T>();
  return (sql) => {
    let v = known.get(sql);
    if (v === undefined) {
      if (known.size >= max) known.clear();
      v = f(sql);
      known.set(sql, v);
    }
    return v;
  };
}

/** Played commands a session lets go of at once when it is behind (else when it has played all it has). */
const LET_GO_RUN = 1024;

/**
 * With a live feed, a session lets go of the commands it played (its plan grows as long as the capture
 * goes on): all of them once it has played everything it has, else when it played LET_GO_RUN and at
 * least half of them (so that each command is moved at most once on average). `i` is the next command's
 * index; returns it after the commands let go.
 */
function letGoPlayed(plan: SessionPlan, i: number): number {
  const n = plan.commands.length;
  if (i === 0 || (i < n && (i < LET_GO_RUN || i * 2 < n))) return i;
  if (i >= n) plan.commands.length = 0;
  else plan.commands.splice(0, i);
  return 0;
}

/**
 * Plays session plans against the target: one connection per session, each session's commands in
 * order, sessions concurrently, at most `maxConnections` connections at once.
 *
 * With a live feed, which runs for ever, it keeps nothing per session once the session is done: the
 * plan's commands are let go as they are played (letGoPlayed), no outcome is kept, and a finished
 * session's task is dropped; the report and the metrics are aggregates (per fingerprint).
 */
export async function replaySessions(
  plans: SessionPlan[],
  options: ReplayOptions,
  live?: LiveFeed,
): Promise<ReplayResult> {
  const target = parseMysqlUrl(options.target);
  const slowMs = options.slowMs ?? DEFAULT_SLOW_MS;
  const comparison = new Comparison(slowMs);
  const drift = new DriftMeter();
  const slots = new Slots(options.maxConnections ?? 100);
  const filters = options.filters ?? {};
  const fingerprintSql = memoBySql(fingerprint);
  const readOnlySql = memoBySql(isReadOnlyStatement);
  /** Prepares count apart from executions: `prepare <fingerprint>`; commands without SQL by their kind. */
  const fingerprintOf = (kind: string, sql: string | undefined) =>
    sql === undefined
      ? kind
      : kind === "stmt_prepare"
        ? `prepare ${fingerprintSql(sql)}`
        : fingerprintSql(sql);
  const start = performance.now();
  const elapsedUs = () => (performance.now() - start) * 1000;
  let lagMs = 0;
  let lastLagMs = 0;
  let sessionsOpen = 0;
  /** The sessions started and not finished. */
  const running = new Set<Promise<void>>();
  const outcomes: SessionOutcome[] = [];
  // Capture time (us since the epoch) of the newest command done, for a live replay's lag behind the capture.
  let newestDoneTs: number | undefined;
  const doneWith = (c: PlannedCommand) => {
    if (live && (newestDoneTs === undefined || c.command.ts > newestDoneTs)) newestDoneTs = c.command.ts;
    return options.onDone?.(c);
  };
  const behind = async (): Promise<BehindCapture> => {
    if (!live) return {};
    const lag = await options.streamLag?.().catch(() => undefined);
    const out: BehindCapture = lag === undefined ? {} : { uncommittedRecords: lag };
    if (lag === 0) out.behindCaptureMs = 0;
    else if (newestDoneTs !== undefined) out.behindCaptureMs = Math.max(0, Date.now() - newestDoneTs / 1000);
    return out;
  };
  options.onStatus?.(async () => ({
    ...comparison.totals(),
    sessionsOpen,
    sessionsWaiting: slots.waiting,
    sessionsHeld: running.size,
    lagMs: lastLagMs,
    live: live !== undefined,
    ...(await behind()),
  }));

  const every = options.progressIntervalMs ?? 5000;
  let ticking: Promise<void> | undefined;
  const tick = async () => {
    const i = comparison.takeInterval();
    const b = await behind();
    options.onProgress?.({
      elapsedMs: Math.round(performance.now() - start),
      intervalMs: every,
      commandsPerSecond: (i.commands * 1000) / every,
      ...i,
      slowMs,
      sessionsOpen,
      sessionsWaiting: slots.waiting,
      lagMs: lastLagMs,
      ...b,
    });
  };
  const timer =
    options.onProgress &&
    setInterval(() => {
      // A slow stream-log read skips a line rather than piling them up.
      if (!ticking) ticking = tick().finally(() => (ticking = undefined));
    }, every);

  const mapDb = (db: string | undefined) => (db === undefined ? undefined : (options.dbMap?.get(db) ?? db));

  const samples = new Map<string, { sql: string; db: string | undefined }>(); // SELECT fingerprint -> one sample
  /**
   * The session's commands, none sent: counted as filtered or skipped and done with; with a live feed as
   * they come, until the session is closed.
   */
  async function passOver(plan: SessionPlan, why: "filtered" | "skipped"): Promise<void> {
    for (let i = 0; ; i++) {
      if (live) i = letGoPlayed(plan, i);
      while (i >= plan.commands.length && !plan.closed && live && !live.ended) await live.changed();
      const c = plan.commands[i];
      if (!c) break;
      comparison[why]++;
      const written = doneWith(c);
      if (written) await written;
    }
  }
  async function playSession(plan: SessionPlan): Promise<void> {
    const outcome: SessionOutcome = { session: plan.session, threadId: undefined, executed: [] };
    // With a live feed nothing is kept per session (see replaySessions).
    const ran = live ? () => undefined : (c: CommandEvent) => void outcome.executed.push(c);
    if (!live) outcomes.push(outcome);
    const user = plan.connect?.user;
    if (filters.users && (user === undefined || !filters.users.includes(user)))
      return passOver(plan, "filtered");
    const statements = new Map<number, string>(); // captured statement id -> SQL
    const wanted = (c: CommandEvent): string | undefined | false => {
      const sql = c.kind === "stmt_execute" ? statements.get(c.statementId ?? -1) : c.sql;
      const isStatement = c.kind === "query" || c.kind === "stmt_prepare" || c.kind === "stmt_execute";
      const db = c.db ?? plan.connect?.db;
      if (filters.databases && (db === undefined || !filters.databases.includes(db))) return false;
      if (!isStatement) return undefined;
      if (sql === undefined) return false;
      if (filters.readOnly && !readOnlySql(sql)) return false;
      if (filters.fingerprint && !filters.fingerprint.test(fingerprintSql(sql))) return false;
      return sql;
    };
    if (options.dryRun) {
      for (const c of plan.commands) {
        if (c.command.kind === "stmt_prepare" && c.response?.statementId !== undefined && c.command.sql)
          statements.set(c.response.statementId, c.command.sql);
        const sql = wanted(c.command);
        if (sql === false) comparison.filtered++;
        else {
          comparison.recordDry(fingerprintOf(c.command.kind, sql), sql ?? c.command.kind, sourceAnswer(c));
          ran(c.command);
        }
      }
      return;
    }

    /**
     * With a live feed: commands the target answered whose captured response is still to come, in order.
     * Each is compared when its response is read (`answered`), those before it without one (the source
     * answers a session's commands in order, so theirs are lost), and the rest at the session's end. They
     * are among the commands the reading side holds waiting for a response: no more than those.
     */
    const awaited: { c: PlannedCommand; fp: string; example: string; answer: Answer }[] = [];
    /** Compares the awaited commands up to `c` (with the source's answer for `c`), or all without one. */
    const settle = (c: PlannedCommand | undefined) => {
      for (let a = awaited.shift(); a; a = awaited.shift()) {
        a.c.answered = undefined;
        const source = a.c === c ? sourceAnswer(c) : undefined;
        comparison.record(a.fp, a.example, source, a.answer, plan.session, a.c.command.seq, plan.run);
        if (a.c === c) return;
      }
    };
    const awaitSource = (c: PlannedCommand, fp: string, example: string, answer: Answer) => {
      awaited.push({ c, fp, example, answer });
      c.answered = () => settle(c);
    };

    await sleep(waitMs(plan.openUs, elapsedUs()));
    const waitStart = performance.now();
    if (await slots.acquire()) lagMs += performance.now() - waitStart;
    sessionsOpen++;
    let conn: mysql.Connection | undefined;
    try {
      const mappedUser = user === undefined ? undefined : options.userMap?.get(user);
      // A session resumed mid-way (its connect before the committed position, or its first commands run by an
      // earlier run) starts in the database it was in there.
      const first = plan.commands[0]?.command.db;
      const database = mapDb(
        plan.resume ? (plan.resume.db ?? first) : plan.connect ? plan.connect.db : first,
      );
      try {
        conn = await mysql.createConnection({
          host: target.host,
          port: target.port,
          user: mappedUser ?? target.user,
          ...(target.password !== undefined ? { password: target.password } : {}),
          ...(target.socketPath !== undefined ? { socketPath: target.socketPath } : {}),
          ...(database !== undefined ? { database } : {}),
          multipleStatements: true,
          // LOAD DATA LOCAL INFILE: the file's content is not replayed; an empty file is sent, so the
          // statement runs and its affected rows show as a difference instead of failing the replay.
          infileStreamFactory: () => Readable.from([]),
          // No stack trace captured per call (an Error.captureStackTrace per command): an error's errno
          // and message are all the replay uses.
          trace: false,
          supportBigNumbers: true,
          bigNumberStrings: true,
        });
      } catch (e) {
        outcome.connectError = (e as Error).message;
        return;
      }
      outcome.threadId = conn.threadId ?? undefined;
      const prepared = new Map<number, mysql.PreparedStatementInfo | Error>();
      // A resumed session sets again its session variables and the user variables it had assigned literals
      // before the resume point; what cannot be rebuilt is reported. Then it prepares again its statements.
      const variables = plan.resume?.variables;
      const notRestored = variables?.notRestored() ?? [];
      for (const sql of variables?.restore() ?? []) {
        try {
          await conn.query(sql);
          comparison.stateRestored++;
        } catch (e) {
          if ((e as { errno?: number }).errno === undefined) throw e;
          notRestored.push(`${sql}: ${(e as Error).message}`);
        }
      }
      for (const what of notRestored) comparison.notRestored(plan.session, what, plan.run);
      for (const [id, sql] of plan.resume?.statements ?? []) {
        statements.set(id, sql);
        try {
          prepared.set(id, await conn.prepare(sql));
        } catch (e) {
          prepared.set(id, e as Error);
        }
        comparison.reprepared++;
      }
      let quit = false;
      for (let i = 0; ; i++) {
        if (live) i = letGoPlayed(plan, i);
        while (i >= plan.commands.length && !plan.closed && live && !live.ended) await live.changed();
        const c = plan.commands[i];
        if (!c) break;
        try {
          const cmd = c.command;
          if (cmd.kind === "stmt_prepare" && c.response?.statementId !== undefined && cmd.sql)
            statements.set(c.response.statementId, cmd.sql);
          const sql = wanted(cmd);
          if (sql === false) {
            comparison.filtered++;
            continue;
          }
          // Awaited only when there is something to wait for (at max speed, mostly not): no turn per command.
          const wait = waitMs(c.plannedUs, elapsedUs());
          if (wait > 0) await sleep(wait);
          if (options.speed !== "max") {
            const d = drift.record(c.plannedUs, elapsedUs());
            lastLagMs = Math.max(0, d / 1000);
          }
          const t0 = performance.now();
          let answer: Answer;
          const fp = fingerprintOf(cmd.kind, sql);
          if (options.explain && sql && !samples.has(fp) && /^\s*select\b/i.test(sql)) {
            // A prepared execution is explained with its captured parameters as literals.
            const sample =
              cmd.kind === "query"
                ? sql
                : cmd.kind === "stmt_execute"
                  ? boundSql(sql, cmd.params)
                  : undefined;
            if (sample !== undefined) samples.set(fp, { sql: sample, db: cmd.db ?? plan.connect?.db });
          }
          try {
            let r = { affectedRows: 0, rows: 0 };
            switch (cmd.kind) {
              case "query":
                r = measure((await conn.query(cmd.sql ?? ""))[0]);
                break;
              case "init_db":
                await conn.query(`USE \`${(mapDb(cmd.sql) ?? "").replace(/`/g, "``")}\``);
                break;
              case "ping":
                await conn.ping();
                break;
              case "stmt_prepare": {
                const id = c.response?.statementId;
                try {
                  const st = await conn.prepare(cmd.sql ?? "");
                  if (id !== undefined) prepared.set(id, st);
                } catch (e) {
                  // Executions of a statement the target would not prepare fail as the prepare did.
                  if (id !== undefined) prepared.set(id, e as Error);
                  throw e;
                }
                break;
              }
              case "stmt_execute": {
                const st = prepared.get(cmd.statementId ?? -1);
                if (!st) {
                  comparison.skipped++;
                  continue;
                }
                if (st instanceof Error) throw st;
                r = measure((await st.execute((cmd.params ?? []).map(paramValue)))[0]);
                break;
              }
              case "stmt_close": {
                const st = prepared.get(cmd.statementId ?? -1);
                prepared.delete(cmd.statementId ?? -1);
                // mysql2 caches statements by SQL per connection: the same SQL prepared twice is one target
                // statement, so it is closed with the last captured id on it, and taken out of the cache
                // (unprepare) so that preparing the SQL again prepares it again on the target.
                const sql = statements.get(cmd.statementId ?? -1);
                if (st && !(st instanceof Error) && ![...prepared.values()].includes(st)) {
                  if (sql !== undefined) conn.unprepare(sql);
                  else await st.close();
                }
                ran(cmd);
                continue;
              }
              case "change_user": {
                // The captured user mapped as at connect; the database is the one the session is in next.
                const from = cmd.sql;
                const to = from === undefined ? undefined : options.userMap?.get(from);
                const db = mapDb(plan.commands[i + 1]?.command.db ?? cmd.db);
                await conn.changeUser({
                  user: to ?? target.user,
                  ...(target.password !== undefined ? { password: target.password } : {}),
                  ...(db !== undefined ? { database: db } : {}),
                });
                // The server drops the session's prepared statements.
                prepared.clear();
                break;
              }
              case "reset_connection":
                await conn.reset();
                prepared.clear();
                break;
              case "stmt_send_long_data":
              case "stmt_reset":
                // The capture folds the long data into the next execution's parameters (as the server
                // would use them), so the target gets it there; nothing is answered to compare.
                ran(cmd);
                continue;
              case "quit":
                quit = true;
                await conn.end();
                ran(cmd);
                continue;
              default:
                comparison.skipped++;
                continue;
            }
            answer = { ok: true, errno: undefined, ...r, latencyUs: (performance.now() - t0) * 1000 };
          } catch (e) {
            const errno = (e as { errno?: number }).errno;
            if (errno === undefined) throw e;
            answer = {
              ok: false,
              errno,
              affectedRows: 0,
              rows: 0,
              latencyUs: (performance.now() - t0) * 1000,
            };
          }
          ran(cmd);
          const example = sql ?? cmd.kind;
          // At the capture's edge the source's answer may not be read yet: compared once it comes.
          if (live && c.response === undefined && !plan.closed && !live.ended)
            awaitSource(c, fp, example, answer);
          else {
            // The answers come in order: those still awaited before this one will not come.
            settle(undefined);
            comparison.record(fp, example, sourceAnswer(c), answer, plan.session, cmd.seq, plan.run);
          }
        } finally {
          const written = doneWith(c);
          if (written) await written;
        }
        if (quit) break;
      }
      if (!quit) await conn.end();
    } finally {
      // Nothing more comes for the session (closed, or the feed ended): no answer for those still awaited.
      settle(undefined);
      sessionsOpen--;
      slots.release();
      // Could not connect: its commands are skipped (those still to come too), without a connection slot.
      if (outcome.connectError !== undefined) await passOver(plan, "skipped");
    }
  }

  let sessionCount = 0;
  // The first session (in the order they started) that failed.
  let failed: { index: number; reason: unknown } | undefined;
  const startSession = (plan: SessionPlan) => {
    const index = sessionCount++;
    const task: Promise<void> = playSession(plan)
      .catch((reason: unknown) => {
        if (!failed || index < failed.index) failed = { index, reason };
      })
      .finally(() => running.delete(task));
    running.add(task);
  };
  try {
    for (const p of plans) startSession(p);
    live?.onSession(startSession);
    if (live) await live.finished;
    while (running.size > 0) await Promise.all(running);
    if (failed)
      throw new SluiceError(
        "REPLAY_FAILED",
        `replay against ${redactUrl(options.target)} failed: ${failed.reason}`,
        {
          hint: "check that the target is reachable and accepts the mapped users",
        },
      );
  } finally {
    if (timer) clearInterval(timer);
    await ticking;
  }
  outcomes.sort((a, b) => a.session - b.session);
  const summary = comparison.summary({
    sessions: sessionCount,
    elapsedMs: performance.now() - start,
    drift: drift.summary(),
    lagMs,
    dryRun: Boolean(options.dryRun),
  });
  if (options.explain && !options.dryRun) summary.plans = await explainSamples(samples, options);
  return { summary, sessions: outcomes };
}

/** The plan of each sample on the target (and the source), once per fingerprint. */
async function explainSamples(
  samples: ReadonlyMap<string, { sql: string; db: string | undefined }>,
  options: ReplayOptions,
): Promise<PlanComparison[]> {
  const open = async (url: string) => {
    const u = parseMysqlUrl(url);
    return mysql.createConnection({
      host: u.host,
      port: u.port,
      user: u.user,
      ...(u.password !== undefined ? { password: u.password } : {}),
      ...(u.socketPath !== undefined ? { socketPath: u.socketPath } : {}),
    });
  };
  const explain = async (conn: mysql.Connection, sql: string, db: string | undefined) => {
    try {
      if (db !== undefined) await conn.query(`USE \`${db.replace(/`/g, "``")}\``);
      const [rows] = await conn.query(`EXPLAIN ${sql}`);
      return planOf(rows as Array<Record<string, unknown>>);
    } catch (e) {
      return `error ${(e as { errno?: number }).errno ?? (e as Error).message}`;
    }
  };
  const target = await open(options.target);
  const source = options.explain?.source === undefined ? undefined : await open(options.explain.source);
  try {
    const plans: PlanComparison[] = [];
    for (const [fp, { sql, db }] of samples) {
      const t = await explain(target, sql, options.dbMap?.get(db ?? "") ?? db);
      const s = source ? await explain(source, sql, db) : undefined;
      plans.push({ fingerprint: fp, sample: sql, target: t, source: s, differs: s !== undefined && s !== t });
    }
    return plans;
  } finally {
    await target.end();
    await source?.end();
  }
}
