import * as hdr from "hdr-histogram-js";
import type { ReplayProgress } from "./player.ts";

/** How one side (source or target) answered a command. */
export interface Answer {
  ok: boolean;
  /** Undefined when ok (or not known); optional so that a captured response is an Answer as it is. */
  errno?: number | undefined;
  affectedRows: number;
  rows: number;
  latencyUs: number;
}

interface FingerprintStats {
  fingerprint: string;
  count: number;
  source: hdr.Histogram;
  target: hdr.Histogram;
  sourceErrors: number;
  targetErrors: number;
  /** "source errno -> target errno" (0 = ok) -> count, only where they differ. */
  errorDiffs: Map<string, number>;
  affectedMismatches: number;
  rowMismatches: number;
  example: string;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface FingerprintReport {
  fingerprint: string;
  count: number;
  /** Latency percentiles in microseconds. */
  source: Percentiles;
  target: Percentiles;
  sourceErrors: number;
  targetErrors: number;
  errorDiffs: { source: number; target: number; count: number }[];
  affectedMismatches: number;
  rowMismatches: number;
  example: string;
  /** Target p50 latency over source p50 (undefined without a source latency): above 1, slower on the target. */
  p50Ratio: number | undefined;
}

/** A session as reports name it: `run/number` where the capture named its run, else the number. */
export function sessionLabel(s: { session: number; run?: string | undefined }): string {
  return s.run === undefined ? String(s.session) : `${s.run}/${s.session}`;
}

/** One command of the replay with its target latency (the slowest ones are reported). */
export interface SlowCommand {
  session: number;
  /** The capture run of the session, where the events name one (every run numbers sessions from 1). */
  run?: string;
  seq: number;
  fingerprint: string;
  /** The statement (or command kind), clipped to 200 characters. */
  example: string;
  /** Target latency, microseconds. */
  targetUs: number;
  /** The source's latency as captured, microseconds (undefined when no answer was captured). */
  sourceUs: number | undefined;
}

/** The progress figures of one interval (reset by each take) and their running totals. */
export interface IntervalFigures {
  /** Commands answered by the target in the interval. */
  commands: number;
  /** Target latency percentiles of the interval's commands, microseconds (0 without commands). */
  p50Us: number;
  p95Us: number;
  p99Us: number;
  /** Target errors by errno in the interval. */
  errorsByCode: Record<string, number>;
  /** Target errors by errno since the start. */
  errorsTotalByCode: Record<string, number>;
  /** Commands slower than the slow threshold on the target, in the interval and since the start. */
  slow: number;
  slowTotal: number;
  /** The interval's slowest command (whatever the threshold), undefined without commands. */
  slowest: SlowCommand | undefined;
}

/** Running totals, read at any time (Prometheus scrapes). */
export interface ComparisonTotals {
  /** Commands answered ok / with an error by the target. */
  ok: number;
  error: number;
  skipped: number;
  filtered: number;
  errorsByCode: Record<string, number>;
  slow: number;
  /** Target latency of every command so far, microseconds, by quantile (0.5, 0.95, 0.99, 0.999, 1 = max). */
  latencyUs: Record<string, number>;
}

export interface ReplaySummary {
  /** Nothing was sent: the counts are what would have been replayed. */
  dryRun: boolean;
  commands: number;
  compared: number;
  skipped: number;
  /** Statements prepared again for sessions resumed mid-way (their PREPARE was before the resume point). */
  reprepared: number;
  /** SET statements run again to rebuild the session and user variables of sessions resumed mid-way. */
  stateRestored: number;
  /**
   * Session state of resumed sessions that could not be rebuilt (user variables assigned other than
   * with a literal, temporary tables, an open transaction): count, and the first ones as `session N: what`.
   */
  stateNotRestored: { count: number; examples: string[] };
  filtered: number;
  sessions: number;
  elapsedMs: number;
  commandsPerSecond: number;
  /** Send time minus planned time, microseconds (mean, 99th percentile, max). */
  drift: { meanUs: number; p99Us: number; maxUs: number };
  /** Total time sessions waited for a connection slot (max-connections), milliseconds. */
  lagMs: number;
  targetErrorsByCode: Record<string, number>;
  /** Commands slower on the target than `slowMs` (the `--slow-ms` threshold), and the slowest ones. */
  slow: { thresholdMs: number; count: number; slowest: SlowCommand[] };
  differences: { errors: number; affectedRows: number; rows: number };
  fingerprints: FingerprintReport[];
  /** With `--explain`: the plan of one sample per SELECT fingerprint, on the target and the source. */
  plans?: PlanComparison[];
}

/** EXPLAIN of one sample statement: per table `table:access type[ key]`, joined by ", ". */
export interface PlanComparison {
  fingerprint: string;
  sample: string;
  target: string;
  /** The source's plan (with `--source`), else undefined. */
  source: string | undefined;
  differs: boolean;
}

const ratio = (target: number, source: number): number | undefined =>
  source > 0 ? Math.round((target / source) * 100) / 100 : undefined;

/** Summarises EXPLAIN rows (MariaDB/MySQL traditional format) as `table:type key` per row. */
export function planOf(rows: ReadonlyArray<Record<string, unknown>>): string {
  return rows
    .map((r) => {
      const key = r.key === null || r.key === undefined ? "" : ` ${String(r.key)}`;
      return `${String(r.table ?? "")}:${String(r.type ?? "")}${key}`;
    })
    .join(", ");
}

const newHistogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

const pct = (h: hdr.Histogram): Percentiles => ({
  p50: h.totalCount ? h.getValueAtPercentile(50) : 0,
  p95: h.totalCount ? h.getValueAtPercentile(95) : 0,
  p99: h.totalCount ? h.getValueAtPercentile(99) : 0,
});

const ms = (us: number) => (us / 1000).toFixed(2);
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 3)}...` : s);
const clampUs = (us: number) => Math.min(3_600_000_000, Math.max(1, Math.round(us)));

/** How many of the slowest commands the end report lists. */
export const SLOWEST_KEPT = 10;
/** Default slow threshold (`--slow-ms`), milliseconds. */
export const DEFAULT_SLOW_MS = 1000;

const count = (m: Map<number, number>, key: number) => m.set(key, (m.get(key) ?? 0) + 1);

/** Accumulates source vs target answers by query fingerprint, and the progress figures. */
export class Comparison {
  private readonly byFingerprint = new Map<string, FingerprintStats>();
  private readonly errorsByCode = new Map<number, number>();
  private readonly intervalErrors = new Map<number, number>();
  private readonly interval = newHistogram();
  private intervalCommands = 0;
  private targetErrors = 0;
  private slowTotal = 0;
  private intervalSlow = 0;
  private intervalSlowest: SlowCommand | undefined;
  /** The slowest commands so far, slowest first, at most SLOWEST_KEPT. */
  private readonly slowest: SlowCommand[] = [];
  private readonly slowUs: number;
  commands = 0;
  skipped = 0;
  /** Statements prepared again for sessions resumed mid-way. */
  reprepared = 0;
  /** SET statements run again for sessions resumed mid-way. */
  stateRestored = 0;
  private readonly stateNotRestored = { count: 0, examples: [] as string[] };

  /** A part of a resumed session's state that could not be rebuilt. */
  notRestored(session: number, what: string, run?: string): void {
    this.stateNotRestored.count++;
    if (this.stateNotRestored.examples.length < 20)
      this.stateNotRestored.examples.push(`session ${sessionLabel({ session, run })}: ${what}`);
  }
  filtered = 0;

  /** `slowMs`: a command slower than this on the target counts as slow. */
  constructor(slowMs = DEFAULT_SLOW_MS) {
    this.slowUs = slowMs * 1000;
  }

  /**
   * `session` and `seq` (and the session's capture `run`, where the events name one): where the command
   * is in the capture, for the slow-command lists.
   */
  record(
    fp: string,
    example: string,
    source: Answer | undefined,
    target: Answer,
    session = -1,
    seq = -1,
    run?: string,
  ): void {
    this.commands++;
    this.intervalCommands++;
    const us = clampUs(target.latencyUs);
    this.interval.recordValue(us);
    if (!target.ok) {
      this.targetErrors++;
      if (target.errno !== undefined) {
        count(this.errorsByCode, target.errno);
        count(this.intervalErrors, target.errno);
      }
    }
    if (target.latencyUs > this.slowUs) {
      this.slowTotal++;
      this.intervalSlow++;
    }
    // Only a command slower than the interval's slowest or than the last kept one costs an object.
    const last = this.slowest.length < SLOWEST_KEPT ? -1 : (this.slowest.at(-1)?.targetUs ?? -1);
    const intervalMax = this.intervalSlowest?.targetUs ?? -1;
    if (target.latencyUs > last || target.latencyUs > intervalMax) {
      const slow: SlowCommand = {
        session,
        ...(run === undefined ? {} : { run }),
        seq,
        fingerprint: fp,
        example: clip(example, 200),
        targetUs: Math.round(target.latencyUs),
        sourceUs: source && Math.round(source.latencyUs),
      };
      if (target.latencyUs > intervalMax) this.intervalSlowest = slow;
      if (target.latencyUs > last) {
        const i = this.slowest.findIndex((x) => x.targetUs < slow.targetUs);
        this.slowest.splice(i < 0 ? this.slowest.length : i, 0, slow);
        if (this.slowest.length > SLOWEST_KEPT) this.slowest.pop();
      }
    }
    const s = this.stats(fp, example);
    s.count++;
    s.target.recordValue(us);
    if (!target.ok) s.targetErrors++;
    if (!source) return;
    this.recordSource(s, source);
    const se = source.ok ? 0 : (source.errno ?? -1);
    const te = target.ok ? 0 : (target.errno ?? -1);
    if (se !== te) {
      const key = `${se}>${te}`;
      s.errorDiffs.set(key, (s.errorDiffs.get(key) ?? 0) + 1);
      return;
    }
    if (source.ok && target.ok) {
      if (source.affectedRows !== target.affectedRows) s.affectedMismatches++;
      if (source.rows !== target.rows) s.rowMismatches++;
    }
  }

  /** A dry run: the command would be replayed; only the source side is known. */
  recordDry(fp: string, example: string, source: Answer | undefined): void {
    this.commands++;
    const s = this.stats(fp, example);
    s.count++;
    if (source) this.recordSource(s, source);
  }

  private recordSource(s: FingerprintStats, source: Answer): void {
    s.source.recordValue(clampUs(source.latencyUs));
    if (!source.ok) s.sourceErrors++;
  }

  private stats(fp: string, example: string): FingerprintStats {
    let s = this.byFingerprint.get(fp);
    if (!s) {
      s = {
        fingerprint: fp,
        count: 0,
        source: newHistogram(),
        target: newHistogram(),
        sourceErrors: 0,
        targetErrors: 0,
        errorDiffs: new Map(),
        affectedMismatches: 0,
        rowMismatches: 0,
        example,
      };
      this.byFingerprint.set(fp, s);
    }
    return s;
  }

  /** Figures since the previous call, and running totals. */
  takeInterval(): IntervalFigures {
    const p = pct(this.interval);
    const out: IntervalFigures = {
      commands: this.intervalCommands,
      p50Us: p.p50,
      p95Us: p.p95,
      p99Us: p.p99,
      errorsByCode: Object.fromEntries(this.intervalErrors),
      errorsTotalByCode: Object.fromEntries(this.errorsByCode),
      slow: this.intervalSlow,
      slowTotal: this.slowTotal,
      slowest: this.intervalSlowest,
    };
    this.interval.reset();
    this.intervalErrors.clear();
    this.intervalCommands = 0;
    this.intervalSlow = 0;
    this.intervalSlowest = undefined;
    return out;
  }

  /** Running totals; the latency quantiles merge the fingerprints' histograms (for a scrape, not per command). */
  totals(): ComparisonTotals {
    // The fingerprints' histograms merged when read, rather than one more record per command.
    const h = newHistogram();
    for (const s of this.byFingerprint.values()) h.add(s.target);
    const q = (p: number) => (h.totalCount ? h.getValueAtPercentile(p) : 0);
    return {
      ok: this.commands - this.targetErrors,
      error: this.targetErrors,
      skipped: this.skipped,
      filtered: this.filtered,
      errorsByCode: Object.fromEntries(this.errorsByCode),
      slow: this.slowTotal,
      latencyUs: {
        "0.5": q(50),
        "0.95": q(95),
        "0.99": q(99),
        "0.999": q(99.9),
        "1": h.totalCount ? h.maxValue : 0,
      },
    };
  }

  fingerprints(): FingerprintReport[] {
    return [...this.byFingerprint.values()]
      .map((s) => ({
        fingerprint: s.fingerprint,
        count: s.count,
        source: pct(s.source),
        target: pct(s.target),
        sourceErrors: s.sourceErrors,
        targetErrors: s.targetErrors,
        errorDiffs: [...s.errorDiffs].map(([k, count]) => {
          const [a, b] = k.split(">");
          return { source: Number(a), target: Number(b), count };
        }),
        affectedMismatches: s.affectedMismatches,
        rowMismatches: s.rowMismatches,
        p50Ratio: ratio(pct(s.target).p50, pct(s.source).p50),
        example: s.example,
      }))
      .sort((a, b) => b.count - a.count || a.fingerprint.localeCompare(b.fingerprint));
  }

  summary(extra: {
    sessions: number;
    elapsedMs: number;
    drift: { meanUs: number; p99Us: number; maxUs: number };
    lagMs: number;
    dryRun?: boolean;
  }): ReplaySummary {
    const fps = this.fingerprints();
    const sum = (f: (r: FingerprintReport) => number) => fps.reduce((n, r) => n + f(r), 0);
    return {
      dryRun: extra.dryRun ?? false,
      commands: this.commands,
      compared: sum((r) => r.count),
      skipped: this.skipped,
      reprepared: this.reprepared,
      stateRestored: this.stateRestored,
      stateNotRestored: { count: this.stateNotRestored.count, examples: [...this.stateNotRestored.examples] },
      filtered: this.filtered,
      sessions: extra.sessions,
      elapsedMs: extra.elapsedMs,
      commandsPerSecond: extra.elapsedMs > 0 ? (this.commands * 1000) / extra.elapsedMs : 0,
      drift: extra.drift,
      lagMs: extra.lagMs,
      targetErrorsByCode: Object.fromEntries(this.errorsByCode),
      slow: { thresholdMs: this.slowUs / 1000, count: this.slowTotal, slowest: [...this.slowest] },
      differences: {
        errors: sum((r) => r.errorDiffs.reduce((n, d) => n + d.count, 0)),
        affectedRows: sum((r) => r.affectedMismatches),
        rows: sum((r) => r.rowMismatches),
      },
      fingerprints: fps,
    };
  }
}

const sourceMs = (c: SlowCommand) => (c.sourceUs === undefined ? "-" : ms(c.sourceUs));

/** The slow-command count and the slowest commands, for the text report. */
function slowLines(s: ReplaySummary): string[] {
  if (s.dryRun || s.slow.slowest.length === 0) return [];
  return [
    `slow commands (over ${s.slow.thresholdMs}ms on the target): ${s.slow.count}; the ${s.slow.slowest.length} slowest:`,
    "   tgt ms    src ms  session:seq  fingerprint",
    ...s.slow.slowest.map(
      (c) =>
        `${ms(c.targetUs).padStart(9)} ${sourceMs(c).padStart(9)}  ${`${sessionLabel(c)}:${c.seq}`.padEnd(11)}  ${clip(c.fingerprint, 80)}`,
    ),
  ];
}

const errorsText = (e: Record<string, number>) => {
  const n = Object.values(e).reduce((a, b) => a + b, 0);
  return n === 0 ? "0" : `${n} ${JSON.stringify(e)}`;
};

/** One progress line for people (no newline). */
export function formatProgress(p: ReplayProgress): string {
  const parts = [
    `${p.commandsPerSecond.toFixed(0)} cmd/s`,
    `p50/p95/p99 ${ms(p.p50Us)}/${ms(p.p95Us)}/${ms(p.p99Us)}ms`,
    `errors ${errorsText(p.errorsByCode)} (total ${errorsText(p.errorsTotalByCode)})`,
    `slow >${p.slowMs}ms ${p.slow} (total ${p.slowTotal})`,
  ];
  if (p.slowest) {
    const c = p.slowest;
    parts.push(
      `slowest ${ms(c.targetUs)}ms (source ${sourceMs(c)}ms) session ${sessionLabel(c)} seq ${c.seq} ${clip(c.fingerprint, 60)}`,
    );
  }
  parts.push(
    `sessions open ${p.sessionsOpen} waiting ${p.sessionsWaiting}`,
    `scheduling lag ${p.lagMs.toFixed(0)}ms`,
  );
  if (p.behindCaptureMs !== undefined) parts.push(`behind capture ${(p.behindCaptureMs / 1000).toFixed(1)}s`);
  if (p.uncommittedRecords !== undefined) parts.push(`uncommitted records ${p.uncommittedRecords}`);
  return `replay ${(p.elapsedMs / 1000).toFixed(0)}s: ${parts.join(", ")}`;
}

/** The end report for people. */
export function formatSummary(s: ReplaySummary): string {
  const lines = [
    `${s.dryRun ? "dry run, would replay" : "replayed"} ${s.commands} commands in ${s.sessions} sessions in ${(s.elapsedMs / 1000).toFixed(2)}s (${s.commandsPerSecond.toFixed(0)}/s); skipped ${s.skipped}, filtered out ${s.filtered}${s.reprepared > 0 ? `, ${s.reprepared} statements prepared again for resumed sessions` : ""}${s.stateRestored > 0 ? `, ${s.stateRestored} SET statements run again for resumed sessions` : ""}`,
    ...(s.stateNotRestored.count > 0
      ? [
          `state not restored: ${s.stateNotRestored.count} (${s.stateNotRestored.examples.join("; ")}${s.stateNotRestored.count > s.stateNotRestored.examples.length ? "; ..." : ""})`,
        ]
      : []),
    `drift mean ${ms(s.drift.meanUs)}ms max ${ms(s.drift.maxUs)}ms p99 ${ms(s.drift.p99Us)}ms; connection-limit lag ${s.lagMs.toFixed(0)}ms`,
    `differences: ${s.differences.errors} errors, ${s.differences.affectedRows} affected-row, ${s.differences.rows} result-row mismatches`,
    ...slowLines(s),
    "",
    "count  src p50/p95/p99 ms        tgt p50/p95/p99 ms        err-diff aff-diff row-diff  t/s p50  fingerprint",
  ];
  for (const f of s.fingerprints) {
    const p = (x: Percentiles) => `${ms(x.p50)}/${ms(x.p95)}/${ms(x.p99)}`.padEnd(25);
    const errs = f.errorDiffs.reduce((n, d) => n + d.count, 0);
    lines.push(
      `${String(f.count).padStart(5)}  ${p(f.source)} ${p(f.target)} ${String(errs).padStart(8)} ${String(f.affectedMismatches).padStart(8)} ${String(f.rowMismatches).padStart(8)}  ${(f.p50Ratio === undefined ? "-" : f.p50Ratio.toFixed(2)).padStart(7)}  ${clip(f.fingerprint, 80)}`,
    );
    for (const d of f.errorDiffs)
      lines.push(`       errno source ${d.source || "ok"} -> target ${d.target || "ok"}: ${d.count}`);
  }
  const differing = (s.plans ?? []).filter((p) => p.differs);
  if (s.plans) {
    lines.push("", `plans: ${s.plans.length} SELECT fingerprints explained, ${differing.length} differ`);
    for (const p of differing)
      lines.push(`  ${clip(p.fingerprint, 80)}`, `       source ${p.source ?? "?"} -> target ${p.target}`);
  }
  return `${lines.join("\n")}\n`;
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** With --explain: the plans of the SELECT samples, those that differ highlighted. */
function planTable(s: ReplaySummary): string {
  if (!s.plans) return "";
  const rows = s.plans
    .map(
      (p) =>
        `<tr${p.differs ? ' class="diff"' : ""}><td>${esc(p.source ?? "")}</td><td>${esc(p.target)}</td><td><code>${esc(p.fingerprint)}</code></td></tr>`,
    )
    .join("\n");
  return `\n<h2>Plans (EXPLAIN of one sample)</h2>\n<table><tr><th>source plan</th><th>target plan</th><th>fingerprint</th></tr>\n${rows}\n</table>`;
}

/** The slowest commands on the target. */
function slowTable(s: ReplaySummary): string {
  if (s.dryRun) return "";
  const rows = s.slow.slowest
    .map(
      (c) =>
        `<tr${c.targetUs > s.slow.thresholdMs * 1000 ? ' class="diff"' : ""}><td>${ms(c.targetUs)}</td><td>${sourceMs(c)}</td><td>${esc(sessionLabel(c))}</td><td>${c.seq}</td><td><code>${esc(c.fingerprint)}</code><br><small>${esc(clip(c.example, 200))}</small></td></tr>`,
    )
    .join("\n");
  return `\n<h2>Slowest commands on the target</h2>\n<p>${s.slow.count} commands over ${s.slow.thresholdMs} ms (highlighted).</p>\n<table><tr><th>target ms</th><th>source ms</th><th>session</th><th>seq</th><th>fingerprint / statement</th></tr>\n${rows}\n</table>`;
}

/** A self-contained HTML page: the summary, a table, and SVG bars of p50/p99 latency by fingerprint. */
export function renderHtml(s: ReplaySummary): string {
  const fps = s.fingerprints.slice(0, 50);
  const max = Math.max(1, ...fps.flatMap((f) => [f.source.p99, f.target.p99]));
  const barW = 420;
  const rowH = 34;
  const bars = fps
    .map((f, i) => {
      const y = i * rowH;
      const w = (v: number) => Math.max(1, (v / max) * barW).toFixed(1);
      return `<g transform="translate(0,${y})"><title>${esc(f.fingerprint)}</title>
<text x="0" y="12" font-size="11">${esc(clip(f.fingerprint, 60))}</text>
<rect x="400" y="2" width="${w(f.source.p99)}" height="12" fill="#9ab"/><rect x="400" y="2" width="${w(f.source.p50)}" height="12" fill="#357"/>
<rect x="400" y="16" width="${w(f.target.p99)}" height="12" fill="#eb9"/><rect x="400" y="16" width="${w(f.target.p50)}" height="12" fill="#b52"/>
<text x="${405 + barW}" y="12" font-size="10">src ${ms(f.source.p50)}/${ms(f.source.p99)} ms</text>
<text x="${405 + barW}" y="26" font-size="10">tgt ${ms(f.target.p50)}/${ms(f.target.p99)} ms</text></g>`;
    })
    .join("\n");
  const rows = s.fingerprints
    .map((f) => {
      const errs = f.errorDiffs
        .map((d) => `${d.source || "ok"}&rarr;${d.target || "ok"} &times;${d.count}`)
        .join(", ");
      const cls = errs || f.rowMismatches || f.affectedMismatches ? ' class="diff"' : "";
      return `<tr${cls}><td>${f.count}</td><td>${ms(f.source.p50)} / ${ms(f.source.p95)} / ${ms(f.source.p99)}</td><td>${ms(f.target.p50)} / ${ms(f.target.p95)} / ${ms(f.target.p99)}</td><td>${errs}</td><td>${f.affectedMismatches}</td><td>${f.rowMismatches}</td><td>${f.p50Ratio ?? ""}</td><td><code>${esc(f.fingerprint)}</code></td></tr>`;
    })
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>sluice replay: source vs target</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;text-align:right}td:last-child{text-align:left}tr.diff{background:#fee}</style></head>
<body><h1>Replay: source vs target</h1>
<p>${s.commands} commands, ${s.sessions} sessions, ${(s.elapsedMs / 1000).toFixed(2)} s (${s.commandsPerSecond.toFixed(0)}/s). Drift mean ${ms(s.drift.meanUs)} ms, p99 ${ms(s.drift.p99Us)} ms, max ${ms(s.drift.maxUs)} ms. Connection-limit lag ${s.lagMs.toFixed(0)} ms.</p>
<p>Differences: ${s.differences.errors} errors, ${s.differences.affectedRows} affected-row and ${s.differences.rows} result-row mismatches.</p>${s.stateNotRestored.count > 0 ? `\n<p>State not restored for resumed sessions: ${s.stateNotRestored.count} (${esc(s.stateNotRestored.examples.join("; "))}).</p>` : ""}
<h2>Latency by fingerprint (dark: p50, light: p99; blue source, orange target)</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="${barW + 560}" height="${fps.length * rowH + 10}">
${bars}
</svg>
<h2>Comparison</h2>
<table><tr><th>count</th><th>source p50/p95/p99 ms</th><th>target p50/p95/p99 ms</th><th>errors differing</th><th>affected-row diffs</th><th>row-count diffs</th><th>p50 target/source</th><th>fingerprint</th></tr>
${rows}
</table>${slowTable(s)}${planTable(s)}</body></html>
`;
}
