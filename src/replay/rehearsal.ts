/**
 * The pieces of an upgrade rehearsal with sysbench, as a DBA runs one: sysbench's tables prepared on a
 * source, the same rows copied to a target (`mariadb-dump --single-transaction | mariadb`), the
 * source's traffic captured live while `sysbench oltp_read_write` runs, the capture replayed on the
 * target, then what was captured set beside what was replayed, and the two servers' end states
 * compared row by row. `sluice demo` and bench/replay.ts are built from these.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { closeSync, createWriteStream, openSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { SluiceError } from "../core/errors.ts";
import type { SessionPlan } from "./scheduler.ts";

const execFileAsync = promisify(execFile);

/** What the rehearsal runs besides Sluice. */
export const REHEARSAL_TOOLS = ["sysbench", "tcpdump", "mariadb-dump", "mariadb"] as const;

/** The tools of `tools` not found on PATH. */
export function missingTools(tools: readonly string[] = REHEARSAL_TOOLS): string[] {
  return tools.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0);
}

/** A server the rehearsal talks to: a sandbox, or anything with a port on 127.0.0.1 and root without password. */
export interface RehearsalServer {
  readonly port: number;
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface SysbenchSetup {
  port: number;
  db: string;
  tables: number;
  tableSize: number;
}

/** `sysbench oltp_read_write` with the connection and table options, then `extra`. */
export function sysbenchArgs(s: SysbenchSetup, extra: readonly string[]): string[] {
  return [
    "oltp_read_write",
    "--mysql-host=127.0.0.1",
    `--mysql-port=${s.port}`,
    "--mysql-user=root",
    `--mysql-db=${s.db}`,
    `--tables=${s.tables}`,
    `--table-size=${s.tableSize}`,
    ...extra,
  ];
}

export interface SysbenchResult {
  transactions: number;
  tps: number;
  queries: number;
  qps: number;
  ignoredErrors: number;
  reconnects: number;
  seconds: number;
}

/** The figures of sysbench's `run` report. */
export function parseSysbenchRun(out: string): SysbenchResult {
  const pair = (label: string): [number, number] => {
    const m = new RegExp(`${label}:\\s+(\\d+)\\s+\\(([\\d.]+) per sec\\.\\)`).exec(out);
    return m ? [Number(m[1]), Number(m[2])] : [Number.NaN, Number.NaN];
  };
  const [transactions, tps] = pair("transactions");
  const [queries, qps] = pair("queries");
  const [ignoredErrors] = pair("ignored errors");
  const [reconnects] = pair("reconnects");
  const seconds = Number(/total time:\s+([\d.]+)s/.exec(out)?.[1] ?? Number.NaN);
  if (!Number.isFinite(transactions) || !Number.isFinite(queries))
    throw new SluiceError(
      "REHEARSAL_SYSBENCH_OUTPUT",
      "sysbench's report has no transaction or query counts",
      {
        context: { output: out.slice(-2000) },
        hint: "run the sysbench command by hand to see what it says",
      },
    );
  return { transactions, tps, queries, qps, ignoredErrors, reconnects, seconds };
}

/** Runs sysbench without blocking the event loop (a live capture in this process keeps reading). */
export async function sysbench(s: SysbenchSetup, extra: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync("sysbench", sysbenchArgs(s, extra), {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new SluiceError(
      "REHEARSAL_SYSBENCH_FAILED",
      `sysbench ${extra.join(" ")} on 127.0.0.1:${s.port} failed: ${(err.stderr || err.stdout || err.message).trim().slice(-1500)}`,
      { hint: "is sysbench installed (apt-get install -y sysbench) and the server up?" },
    );
  }
}

/** Creates the database and sysbench's tables and rows on the source. */
export async function prepareSysbench(source: RehearsalServer, s: SysbenchSetup): Promise<void> {
  await source.query(`CREATE DATABASE IF NOT EXISTS \`${s.db}\``);
  await sysbench(s, ["prepare"]);
}

const client = (port: number) => ["-h", "127.0.0.1", "-P", String(port), "-u", "root"];

/** The dump's command line (`--databases` so that it creates the database on the target). */
export function dumpArgs(port: number, db: string): string[] {
  return [...client(port), "--single-transaction", "--add-drop-database", "--databases", db];
}

export const copyCommand = (from: number, to: number, db: string): string =>
  `mariadb-dump ${dumpArgs(from, db).join(" ")} | mariadb ${client(to).join(" ")}`;

function exited(child: ChildProcess, what: string, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0
        ? resolve()
        : reject(
            new SluiceError("REHEARSAL_COPY_FAILED", `${what} exited with ${code}: ${stderr().trim()}`, {
              hint: "are mariadb-dump and mariadb (apt-get install -y mariadb-client) installed?",
            }),
          ),
    );
  });
}

function collectStderr(child: ChildProcess): () => string {
  let text = "";
  child.stderr?.on("data", (d: Buffer) => {
    text = (text + d.toString()).slice(-4000);
  });
  return () => text;
}

/**
 * Copies a database from one server to another as `mariadb-dump --single-transaction` (a consistent
 * InnoDB snapshot, no locks held on the source) piped into `mariadb`: the same rows, while each
 * server keeps its own identity (server id, binlog, users).
 */
export async function copyDatabase(from: number, to: number, db: string): Promise<void> {
  const dump = spawn("mariadb-dump", dumpArgs(from, db), { stdio: ["ignore", "pipe", "pipe"] });
  const load = spawn("mariadb", client(to), { stdio: ["pipe", "ignore", "pipe"] });
  dump.stdout?.pipe(load.stdin!);
  await Promise.all([
    exited(dump, "mariadb-dump", collectStderr(dump)),
    exited(load, "mariadb", collectStderr(load)),
  ]);
}

/** Writes a database's dump to `file` (for loading it again with `loadDump`). */
export async function dumpToFile(from: number, db: string, file: string): Promise<void> {
  const dump = spawn("mariadb-dump", dumpArgs(from, db), { stdio: ["ignore", "pipe", "pipe"] });
  const out = createWriteStream(file);
  dump.stdout?.pipe(out);
  await exited(dump, "mariadb-dump", collectStderr(dump));
  await new Promise<void>((resolve, reject) => out.close((e) => (e ? reject(e) : resolve())));
}

/** Loads a dump written by `dumpToFile` (it drops and re-creates its database). */
export async function loadDump(to: number, file: string): Promise<void> {
  const fd = openSync(file, "r");
  try {
    const load = spawn("mariadb", client(to), { stdio: [fd, "ignore", "pipe"] });
    await exited(load, "mariadb", collectStderr(load));
  } finally {
    closeSync(fd);
  }
}

/** `CHECKSUM TABLE` of each sysbench table (sbtest1, sbtest2, ...). */
export async function checksums(server: RehearsalServer, s: SysbenchSetup): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 1; i <= s.tables; i++) {
    const rows = await server.query<{ Checksum: string | number | null }>(
      `CHECKSUM TABLE \`${s.db}\`.\`sbtest${i}\``,
    );
    out.set(`sbtest${i}`, String(rows[0]?.Checksum ?? "null"));
  }
  return out;
}

/** Row `table:id` -> a digest of all its columns. */
async function rowDigests(server: RehearsalServer, db: string, table: string): Promise<Map<string, string>> {
  const cols = await server.query<{ c: string }>(
    "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    [db, table],
  );
  const list = cols.map((r) => `\`${r.c.replace(/`/g, "``")}\``).join(", ");
  const rows = await server.query<{ id: string | number; h: string }>(
    `SELECT id, MD5(CONCAT_WS(0x1f, ${list})) AS h FROM \`${db}\`.\`${table}\``,
  );
  return new Map(rows.map((r) => [`${table}:${r.id}`, r.h]));
}

export interface EndState {
  rows: number;
  /** `table:id` of the rows that differ (or exist on one side only), in id order. */
  differing: string[];
}

/** The sysbench tables of two servers compared row by row (by primary key `id`). */
export async function compareEndState(
  source: RehearsalServer,
  target: RehearsalServer,
  s: SysbenchSetup,
): Promise<EndState> {
  let rows = 0;
  const differing: string[] = [];
  for (let i = 1; i <= s.tables; i++) {
    const [a, b] = await Promise.all([
      rowDigests(source, s.db, `sbtest${i}`),
      rowDigests(target, s.db, `sbtest${i}`),
    ]);
    rows += a.size;
    const keys = new Set([...a.keys(), ...b.keys()]);
    for (const k of keys) if (a.get(k) !== b.get(k)) differing.push(k);
  }
  const part = (k: string) => [k.slice(0, k.indexOf(":")), Number(k.slice(k.indexOf(":") + 1))] as const;
  differing.sort((x, y) => {
    const [tx, ix] = part(x);
    const [ty, iy] = part(y);
    return tx.localeCompare(ty) || ix - iy;
  });
  return { rows, differing };
}

export interface RowWrite {
  session: number;
  /** Capture time, microseconds. */
  ts: number;
  kind: "update" | "delete" | "insert";
}

export interface CapturedTraffic {
  sessions: number;
  /** Every captured command. */
  commands: number;
  /** Commands the source answered (all but COM_STMT_CLOSE and COM_QUIT, which have no answer). */
  answered: number;
  byKind: Record<string, number>;
  /** From the first captured command to the last, microseconds. */
  spanUs: number;
  /** Errors the source answered, by errno. */
  sourceErrors: Record<string, number>;
  /** sysbench's writes by row (`table:id`), in capture order. */
  writes: Map<string, RowWrite[]>;
}

const WRITE = /^\s*(update|delete|insert)\b/i;
const TABLE = /^\s*(?:update|delete\s+from|insert\s+into)\s+`?(\w+)`?/i;
const ID_LAST = /\bwhere\s+`?id`?\s*=\s*\?\s*$/i;
const ID_FIRST = /^\s*insert\s+into\s+`?\w+`?\s*\(\s*`?id`?\s*,/i;

/** The row a sysbench write (an execute of one of its prepared statements) touches, if it names one. */
function writtenRow(
  sql: string,
  params: readonly unknown[],
): { key: string; kind: RowWrite["kind"] } | undefined {
  const kind = WRITE.exec(sql)?.[1]?.toLowerCase() as RowWrite["kind"] | undefined;
  const table = TABLE.exec(sql)?.[1];
  if (!kind || !table) return undefined;
  const id = ID_FIRST.test(sql) ? params[0] : ID_LAST.test(sql) ? params.at(-1) : undefined;
  if (id === undefined || id === null) return undefined;
  return { key: `${table}:${String(id)}`, kind };
}

/** What was captured: sessions, commands by kind, and which session wrote which row when. */
export function analyseCapture(plans: readonly SessionPlan[]): CapturedTraffic {
  const out: CapturedTraffic = {
    sessions: plans.length,
    commands: 0,
    answered: 0,
    byKind: {},
    spanUs: 0,
    sourceErrors: {},
    writes: new Map(),
  };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const plan of plans) {
    const statements = new Map<number, string>();
    for (const { command: c, response: r } of plan.commands) {
      out.commands++;
      first = Math.min(first, c.ts);
      last = Math.max(last, c.ts);
      out.byKind[c.kind] = (out.byKind[c.kind] ?? 0) + 1;
      if (r) {
        out.answered++;
        if (!r.ok) out.sourceErrors[String(r.errno)] = (out.sourceErrors[String(r.errno)] ?? 0) + 1;
      }
      if (c.kind === "stmt_prepare" && c.sql !== undefined && r?.statementId !== undefined)
        statements.set(r.statementId, c.sql);
      const sql = c.kind === "stmt_execute" ? statements.get(c.statementId ?? -1) : c.sql;
      if (sql === undefined || (c.kind !== "stmt_execute" && c.kind !== "query") || r?.ok === false) continue;
      const row = writtenRow(sql, c.kind === "stmt_execute" ? (c.params ?? []) : []);
      if (!row) continue;
      let list = out.writes.get(row.key);
      if (!list) {
        list = [];
        out.writes.set(row.key, list);
      }
      list.push({ session: plan.session, ts: c.ts, kind: row.kind });
    }
  }
  for (const list of out.writes.values()) list.sort((a, b) => a.ts - b.ts);
  if (out.commands > 0) out.spanUs = last - first;
  return out;
}

export interface RowExplanation {
  row: string;
  /** Sessions that wrote the row in the capture. */
  sessions: number[];
  /** The shortest time between writes of the row by two different sessions, microseconds. */
  closestUs: number | undefined;
}

/** For each differing row: which captured sessions wrote it, and how close together. */
export function explainRows(differing: readonly string[], traffic: CapturedTraffic): RowExplanation[] {
  return differing.map((row) => {
    const writes = traffic.writes.get(row) ?? [];
    let closestUs: number | undefined;
    for (let i = 1; i < writes.length; i++) {
      const a = writes[i - 1]!;
      const b = writes[i]!;
      if (a.session !== b.session && (closestUs === undefined || b.ts - a.ts < closestUs))
        closestUs = b.ts - a.ts;
    }
    return { row, sessions: [...new Set(writes.map((w) => w.session))].sort((x, y) => x - y), closestUs };
  });
}

/** Errors that concurrent transactions get or not depending on timing: deadlock, lock wait timeout. */
export const TIMING_ERRNOS: ReadonlySet<number> = new Set([1213, 1205]);

/**
 * Errors that follow from a timing error on one side: after a deadlock on the target, the rest of the
 * source's transaction runs outside a transaction there, and sysbench's INSERT of the row whose DELETE
 * was rolled back finds the row still present (duplicate key).
 */
export const AFTER_TIMING_ERRNOS: ReadonlySet<number> = new Set([1062]);

export interface CaptureTotals {
  /** The capture's last statistics line, as it printed it. */
  line: string;
  /** Its figures (counts as printed: 12.3k). */
  stats: Record<string, string>;
}

export interface CaptureProcess {
  /** The command line, for people. */
  readonly command: string;
  /** Stops it as Ctrl-C does and returns its totals. */
  stop(): Promise<CaptureTotals>;
}

/**
 * Starts `sluice capture -i lo --filter 'tcp port PORT' --to LOG` as its own process (`node` and the
 * CLI's entry point) and waits until tcpdump is listening.
 */
export async function startCaptureProcess(
  cli: string,
  port: number,
  log: string,
  extra: readonly string[] = [],
): Promise<CaptureProcess> {
  const filter = `tcp port ${port}`;
  const args = ["capture", "-i", "lo", "--filter", filter, "--to", log, "--stats-interval", "0", ...extra];
  const command = `sluice ${args.map((a) => (a === filter ? `'${a}'` : a)).join(" ")}`;
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, SLUICE_LOG_LEVEL: "info" },
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const gone = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  for (let i = 0; i < 400 && !err.includes("capturing on") && child.exitCode === null; i++) await sleep(50);
  if (!err.includes("capturing on")) {
    child.kill("SIGKILL");
    await gone;
    throw new SluiceError(
      "REHEARSAL_CAPTURE_FAILED",
      `${command} did not start: ${err.trim() || "no output"}`,
      {
        hint: "live capture runs tcpdump: it needs tcpdump installed and root (or CAP_NET_RAW)",
      },
    );
  }
  return {
    command,
    async stop() {
      child.kill("SIGINT");
      const code = await gone;
      const line = err.split("\n").findLast((l) => l.startsWith("total:")) ?? "";
      if (code !== 0 || !line)
        throw new SluiceError(
          "REHEARSAL_CAPTURE_FAILED",
          `${command} exited with ${code}: ${err.trim().slice(-1500)}`,
        );
      const stats = Object.fromEntries(
        line
          .slice("total:".length)
          .trim()
          .split(/\s+/)
          .map((kv) => kv.split("=") as [string, string]),
      );
      return { line, stats };
    },
  };
}
