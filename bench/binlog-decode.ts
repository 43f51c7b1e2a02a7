/**
 * Binlog decode throughput on the seed's workload (Binlog Collector benchmark): 800 INSERTs, 800
 * UPDATEs and 800 DELETEs of 100 rows each, rows of 4+201+201+11 bytes (INT, VARCHAR(201) x2,
 * VARCHAR(11)), over two tables, autocommit - written by a sandboxed MariaDB, then decoded from the
 * same binlog file by:
 * - `sluice binlog read --format jsonl FILE > /dev/null` (compiled by the bench into a scratch dir, as an install runs it),
 * - `mariadb-binlog -v --base64-output=DECODE-ROWS FILE > /dev/null` (the C reference),
 * - @vlasky/zongji (the Node peer), which can only read from a server: it replicates the same file
 *   from the same sandbox, from its first event to its last (so its figure includes the network
 *   hop on loopback, as every zongji user pays it).
 * The CLI runs twice: with its default --jobs for the file (one thread per core from 256 MiB, else
 * one) and with the other choice.
 * Each tool runs N times; the best wall time and the best CPU time count (each the least of its runs).
 * Without --quick a larger run (x4 the rows) follows.
 */
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { decoderOptionsFor } from "../src/codecs/binlog/render.ts";
import { JsonlSink, writeJsonLine } from "../src/codecs/binlog/rows-json/index.ts";
import { type MariadbSandbox, startMariadb } from "../src/sandbox/index.ts";
import { readBinlogFileBatches, readBinlogFiles } from "../src/sources/binlog-file.ts";
import { defaultJobs } from "../src/sources/binlog-file-parallel.ts";
import { compiledCli } from "./compile-cli.ts";
import type { BenchModule } from "./types.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface Workload {
  label: string;
  statements: number;
  rowsPerStatement: number;
}

interface Measured {
  tool: string;
  t: Timing;
  note?: string;
  /** The same tool across workloads (for the steady-state rates): the CLI's by its --jobs. */
  key?: string;
}

/** One workload's figures. */
interface Measure {
  md: string;
  results: Measured[];
  bytes: number;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + "x".repeat(n - s.length);
}

async function buildBinlog(sb: MariadbSandbox, w: Workload, tag: string) {
  await sb.query(`CREATE DATABASE IF NOT EXISTS bench`);
  for (const t of ["t1", "t2"]) {
    await sb.query(`DROP TABLE IF EXISTS bench.${t}_${tag}`);
    await sb.query(
      `CREATE TABLE bench.${t}_${tag} (id INT PRIMARY KEY, a VARCHAR(201), b VARCHAR(201), c VARCHAR(11)) ENGINE=InnoDB`,
    );
  }
  await sb.query("FLUSH BINARY LOGS");
  const [st] = await sb.query<{ File: string }>("SHOW MASTER STATUS");
  const file = st!.File;
  const n = w.rowsPerStatement;
  const a = pad("a", 201);
  const b = pad("b", 201);
  for (let s = 0; s < w.statements; s++) {
    const table = `bench.${s % 2 ? "t2" : "t1"}_${tag}`;
    const values: string[] = [];
    for (let i = 0; i < n; i++)
      values.push(`(${s * n + i}, '${a}', '${b}', '${String(s).padStart(11, "0")}')`);
    await sb.query(`INSERT INTO ${table} VALUES ${values.join(",")}`);
  }
  for (let s = 0; s < w.statements; s++) {
    const table = `bench.${s % 2 ? "t2" : "t1"}_${tag}`;
    await sb.query(`UPDATE ${table} SET c = 'updated' WHERE id BETWEEN ${s * n} AND ${s * n + n - 1}`);
  }
  for (let s = 0; s < w.statements; s++) {
    const table = `bench.${s % 2 ? "t2" : "t1"}_${tag}`;
    await sb.query(`DELETE FROM ${table} WHERE id BETWEEN ${s * n} AND ${s * n + n - 1}`);
  }
  await sb.query("FLUSH BINARY LOGS");
  const path = join(sb.binlogDir, file);
  return { file, path, bytes: statSync(path).size };
}

async function countEvents(path: string): Promise<{ events: number; rows: number; lastNext: number }> {
  let events = 0;
  let rows = 0;
  let lastNext = 0;
  for await (const ev of readBinlogFiles({ files: [path] })) {
    events++;
    if ("rows" in ev && ev.rows && typeof ev.rows === "object" && "rows" in ev.rows)
      rows += ev.rows.rows.length;
    lastNext = ev.position.next;
  }
  return { events, rows, lastNext };
}

/** Wall and CPU (user + system) seconds of one run. */
interface Timing {
  wall: number;
  cpu: number;
}

/** Runs a command under /usr/bin/time (GNU time) for its CPU seconds; stdout goes to /dev/null. */
function timeCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("/usr/bin/time", ["-f", "SLUICE_BENCH_CPU %U %S", cmd, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env,
      cwd: ROOT,
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const wall = (performance.now() - started) / 1000;
      const m = /SLUICE_BENCH_CPU ([\d.]+) ([\d.]+)/.exec(err);
      if (code !== 0 || !m)
        reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err.slice(0, 500)}`));
      else resolve({ wall, cpu: Number(m[1]) + Number(m[2]) });
    });
  });
}

/** Times an in-process function: wall, and this process's CPU seconds. */
async function timeHere(fn: () => Promise<void>): Promise<Timing> {
  const c0 = process.cpuUsage();
  const started = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - started) / 1000, cpu: (c.user + c.system) / 1e6 };
}

interface ZongJiLike {
  on(ev: "binlog", fn: (e: { getEventName(): string; nextPosition: number; rows?: unknown[] }) => void): void;
  on(ev: "error", fn: (e: Error) => void): void;
  on(ev: "ready", fn: () => void): void;
  start(opts: Record<string, unknown>): void;
  stop(): void;
}

/** zongji replicating `file` from the sandbox until the event that ends at `lastNext`. */
async function timeZongji(sb: MariadbSandbox, file: string, lastNext: number): Promise<Timing> {
  return timeHere(() => runZongji(sb, file, lastNext));
}

function runZongji(sb: MariadbSandbox, file: string, lastNext: number): Promise<void> {
  const require = createRequire(import.meta.url);
  const mod = require("@vlasky/zongji") as { default: new (opts: Record<string, unknown>) => ZongJiLike };
  const ZongJi = mod.default;
  return new Promise((resolve, reject) => {
    const z = new ZongJi({ host: sb.host, port: sb.port, user: "root", password: "" });
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      z.stop();
      if (err) reject(err);
      else resolve();
    };
    z.on("error", (e) => finish(e));
    z.on("binlog", (e) => {
      if (e.nextPosition >= lastNext) finish();
    });
    z.start({
      serverId: 900000 + Math.floor(Math.random() * 1000),
      filename: file,
      position: 4,
      includeEvents: ["tablemap", "writerows", "updaterows", "deleterows", "rotate", "query", "xid"],
    });
  });
}

/**
 * The library alone, in this process (no process start-up): with `render`, every event written as
 * its JSON line into a byte buffer exactly as the CLI does (rows events and annotated statements transcoded from their bytes,
 * one read buffer, the batch handed out every MiB); without, every event decoded with its row
 * values (as zongji hands them out) and nothing rendered.
 */
function timeInProcess(path: string, render: boolean): Promise<Timing> {
  return timeHere(async () => {
    if (!render) {
      let n = 0;
      for await (const ev of readBinlogFiles({ files: [path] })) n += ev.position.next & 1;
      if (n < 0) throw new Error("unreachable");
      return;
    }
    const sink = new JsonlSink();
    let bytes = 0;
    for await (const batch of readBinlogFileBatches({
      files: [path],
      reuseBuffer: true,
      decoder: decoderOptionsFor("jsonl"),
    })) {
      for (const ev of batch) writeJsonLine(ev, sink);
      if (sink.pos >= 1 << 20) {
        bytes += sink.take().length;
        sink.recycle();
      }
    }
    bytes += sink.take().length;
    if (bytes === 0) throw new Error("no output");
  });
}

/** The compiled CLI (or the sources through tsx) with `args`, timed. */
function timeCli(cli: string | null, args: string[]): Promise<Timing> {
  return cli
    ? timeCommand(process.execPath, [cli, ...args])
    : timeCommand(process.execPath, ["bin/sluice.js", ...args], { ...process.env, SLUICE_FROM_SOURCE: "1" });
}

/** "met" when Sluice's figure is at most the reference's, else how much more it is. */
function verdict(sluice: number, ref: number): string {
  return sluice <= ref
    ? `met (${sluice.toFixed(2)} s <= ${ref.toFixed(2)} s)`
    : `not met (${sluice.toFixed(2)} s vs ${ref.toFixed(2)} s, ${(sluice / ref).toFixed(2)}x)`;
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}

/**
 * Waits until the sandbox's server is idle: InnoDB has purged what the workload deleted (it does so
 * in the background, on the same cores the tools run on), and the process uses almost no CPU.
 */
async function settle(sb: MariadbSandbox): Promise<void> {
  await sb.query("SET GLOBAL innodb_max_purge_lag_wait = 0");
  const ticks = () => {
    const f = readFileSync(`/proc/${sb.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]);
  };
  for (let i = 0; i < 120; i++) {
    const t0 = ticks();
    await new Promise((r) => setTimeout(r, 250));
    // clock ticks are 10 ms: at most one in 250 ms is idle
    if (ticks() - t0 <= 1) return;
  }
}

/**
 * Each tool `runs` times, taking turns (one run of each, then again): a passing load on the shared
 * machine falls on all of them rather than on one tool's runs.
 */
async function bestInTurns(runs: number, tools: (() => Promise<Timing>)[]): Promise<Timing[]> {
  const b = tools.map(() => ({ wall: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY }));
  for (let i = 0; i < runs; i++)
    for (let k = 0; k < tools.length; k++) {
      const t = await tools[k]!();
      b[k]!.wall = Math.min(b[k]!.wall, t.wall);
      b[k]!.cpu = Math.min(b[k]!.cpu, t.cpu);
    }
  return b;
}

async function measure(sb: MariadbSandbox, w: Workload, tag: string, runs: number): Promise<Measure> {
  const bin = await buildBinlog(sb, w, tag);
  const counted = await countEvents(bin.path);
  await settle(sb);
  const cli = compiledCli("dist");
  const how =
    cli === null ? "from source through tsx" : cli.endsWith("bundle.js") ? "compiled, bundled" : "compiled";
  const read = ["binlog", "read", "--format", "jsonl", "--no-progress"];
  const cores = availableParallelism();
  const jobs = defaultJobs(bin.bytes);
  // the default, and the other choice: one thread, or one per core
  const other = jobs === 1 ? cores : 1;
  const mariadbBinlog = ["-v", "--base64-output=DECODE-ROWS"];
  const tools: (Omit<Measured, "t"> & { run: () => Promise<Timing> })[] = [
    {
      tool: `sluice binlog read --format jsonl (${how}; default for this file: --jobs ${jobs})`,
      run: () => timeCli(cli, [...read, bin.path]),
      key: `sluice binlog read --jobs ${jobs}`,
    },
    {
      tool: `sluice binlog read --format jsonl --jobs ${other} (${how})`,
      run: () => timeCli(cli, [...read, "--jobs", String(other), bin.path]),
      key: `sluice binlog read --jobs ${other}`,
    },
    {
      tool: "Sluice library in-process (decode + JSON lines, as the CLI writes them, no start-up)",
      run: () => timeInProcess(bin.path, true),
    },
    {
      tool: "Sluice library in-process (decode only: events with row values, like zongji)",
      run: () => timeInProcess(bin.path, false),
    },
    {
      tool: "mariadb-binlog -v --base64-output=DECODE-ROWS",
      run: () => timeCommand("mariadb-binlog", [...mariadbBinlog, bin.path]),
      key: "mariadb-binlog",
    },
  ];
  // zongji needs the server: it is left out (with the reason) if it cannot replicate
  let zongji: string | undefined;
  try {
    await timeZongji(sb, bin.file, counted.lastNext);
    tools.push({
      tool: "@vlasky/zongji (replicating the same file)",
      run: () => timeZongji(sb, bin.file, counted.lastNext),
      key: "@vlasky/zongji",
    });
  } catch (e) {
    zongji = `failed: ${(e as Error).message}`;
  }
  // start-up: printing only the first events of the same file
  const stop = "--stop-position=1024";
  tools.push(
    { tool: "start-up: sluice", run: () => timeCli(cli, [...read, stop, bin.path]) },
    {
      tool: "start-up: mariadb-binlog",
      run: () => timeCommand("mariadb-binlog", [...mariadbBinlog, stop, bin.path]),
    },
  );
  const timed = await bestInTurns(
    runs,
    tools.map((t) => t.run),
  );
  const results: Measured[] = tools.map(({ run: _, ...t }, i) => ({ ...t, t: timed[i]! }));
  const refStartup = results.pop()!.t;
  const startup = results.pop()!.t;
  if (zongji !== undefined)
    results.push({ tool: "@vlasky/zongji", t: { wall: Number.NaN, cpu: Number.NaN }, note: zongji });
  const sluice = results[0]!.t.cpu;
  const library = results[2]!.t.cpu;
  const ref = results.find((r) => r.tool.startsWith("mariadb-binlog"))!.t;
  const [byDefault, alt] = [results[0]!.t, results[1]!.t];
  const goal = `Goal (\`sluice binlog read --format jsonl\` not slower than mariadb-binlog): wall time ${verdict(byDefault.wall, ref.wall)} by default (--jobs ${jobs}), ${verdict(alt.wall, ref.wall)} with --jobs ${other}; CPU time ${verdict(byDefault.cpu, ref.cpu)} by default, ${verdict(alt.cpu, ref.cpu)} with --jobs ${other}.`;
  const rowsMd = results
    .map((r) =>
      Number.isNaN(r.t.cpu)
        ? `| ${r.tool} | - | - | - | - | - | - | - | ${r.note ?? ""} |`
        : `| ${r.tool} | ${r.t.wall.toFixed(2)} | ${r.t.cpu.toFixed(2)} | ${fmt(counted.events / r.t.cpu)} | ${fmt(counted.rows / r.t.cpu)} | ${fmt(bin.bytes / 2 ** 20 / r.t.cpu)} | ${(r.t.cpu / sluice).toFixed(2)} | ${(r.t.cpu / library).toFixed(2)} |`,
    )
    .join("\n");
  return {
    md: `### ${w.label}\n\nBinlog ${bin.file}: ${(bin.bytes / 2 ** 20).toFixed(1)} MiB, ${counted.events.toLocaleString("en-US")} events, ${counted.rows.toLocaleString("en-US")} row changes (updates count once).\n\n| tool | wall s (best of ${runs}) | CPU s (best of ${runs}) | events/s | rows/s | MB/s | CPU vs Sluice CLI | CPU vs Sluice library |\n|---|---|---|---|---|---|---|---|\n${rowsMd}\n\n${goal}\n\nStart-up (the first events of the same file only, \`--stop-position 1024\`): the CLI ${startup.cpu.toFixed(2)} s CPU, ${startup.wall.toFixed(2)} s wall; mariadb-binlog ${refStartup.cpu.toFixed(3)} s CPU, ${refStartup.wall.toFixed(3)} s wall (best of ${runs}).\n`,
    results,
    bytes: bin.bytes,
  };
}

/**
 * Steady-state rates: the extra time each tool takes for the larger file's extra bytes. A fixed
 * cost (process start-up, loading code, JIT warm-up for Sluice; almost nothing for the C tool)
 * cancels in the difference, so what is left is how fast each one decodes once it runs.
 */
function steadyState(small: Measure, large: Measure): string {
  const mib = (large.bytes - small.bytes) / 2 ** 20;
  const rows: { key: string; wall: number; cpu: number }[] = [];
  for (const l of large.results) {
    const s = small.results.find((r) => r.key !== undefined && r.key === l.key);
    if (s === undefined || Number.isNaN(l.t.cpu) || Number.isNaN(s.t.cpu)) continue;
    rows.push({ key: l.key!, wall: mib / (l.t.wall - s.t.wall), cpu: mib / (l.t.cpu - s.t.cpu) });
  }
  const ref = rows.find((r) => r.key === "mariadb-binlog");
  if (ref === undefined) return "";
  const table = rows
    .map(
      (r) =>
        `| ${r.key} | ${fmt(r.wall)} | ${fmt(r.cpu)} | ${(r.wall / ref.wall).toFixed(2)} | ${(r.cpu / ref.cpu).toFixed(2)} |`,
    )
    .join("\n");
  const sluice = rows.filter((r) => r.key.startsWith("sluice"));
  const best = (k: "wall" | "cpu") => sluice.reduce((a, b) => (b[k] > a[k] ? b : a));
  const said = (k: "wall" | "cpu") => {
    const b = best(k);
    return `${b[k] >= ref[k] ? "met" : "not met"} (${b.key}: ${fmt(b[k])} MiB/s against ${fmt(ref[k])}, ${(b[k] / ref[k]).toFixed(2)}x)`;
  };
  return `### Steady-state throughput (start-up excluded)

The larger file's extra ${mib.toFixed(1)} MiB divided by the extra time each tool took for them (the best times above): fixed costs, start-up and JIT warm-up included, cancel out. Above 1 in the last two columns: faster than mariadb-binlog.

| tool | MiB/s (wall) | MiB/s (CPU) | wall rate vs mariadb-binlog | CPU rate vs mariadb-binlog |
|---|---|---|---|---|
${table}

Goal (decode throughput not below mariadb-binlog's): in wall time ${said("wall")}; in CPU time ${said("cpu")}.
`;
}

/** Peak RSS (KiB) of a command, from GNU time. */
function peakRss(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "SLUICE_BENCH_RSS %M", cmd, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      cwd: ROOT,
      env:
        cmd === process.execPath && !compiledCli("dist")
          ? { ...process.env, SLUICE_FROM_SOURCE: "1" }
          : process.env,
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const m = /SLUICE_BENCH_RSS (\d+)/.exec(err);
      if (code !== 0 || !m) reject(new Error(`${cmd} exited ${code}: ${err.slice(0, 300)}`));
      else resolve(Number(m[1]));
    });
  });
}

/** One transaction of 1,000,000 rows (MariaDB's sequence engine), then the peak memory of reading its binlog. */
async function peakMemory(sb: MariadbSandbox): Promise<string> {
  await sb.query("CREATE TABLE bench.million (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB");
  await sb.query("FLUSH BINARY LOGS");
  const [st] = await sb.query<{ File: string }>("SHOW MASTER STATUS");
  await sb.query(
    "INSERT INTO bench.million SELECT seq, CONCAT('value-', seq, '-', REPEAT('x', 20)) FROM bench.seq_1_to_1000000",
  );
  await sb.query("FLUSH BINARY LOGS");
  const path = join(sb.binlogDir, st!.File);
  const mib = statSync(path).size / 2 ** 20;
  const cli = compiledCli("dist");
  const sluiceArgs = [...(cli ? [cli] : ["bin/sluice.js"]), "binlog", "read", "--no-progress"];
  const sluice = await peakRss(process.execPath, [...sluiceArgs, path]);
  const ref = await peakRss("mariadb-binlog", ["-v", "--base64-output=DECODE-ROWS", path]);
  const cores = availableParallelism();
  const perCore = await peakRss(process.execPath, [...sluiceArgs, "--jobs", String(cores), path]);
  return `### Peak memory: one transaction of 1,000,000 rows

Binlog ${st!.File}: ${mib.toFixed(1)} MiB, a single INSERT ... SELECT of 1,000,000 rows (INT, VARCHAR(40)) in one transaction.

| tool | peak RSS |
|---|---|
| sluice binlog read --format jsonl (default for this file: --jobs ${defaultJobs(statSync(path).size)}) | ${(sluice / 1024).toFixed(0)} MiB |
| sluice binlog read --format jsonl --jobs ${cores} | ${(perCore / 1024).toFixed(0)} MiB |
| mariadb-binlog -v --base64-output=DECODE-ROWS | ${(ref / 1024).toFixed(0)} MiB |

With --jobs 1 Sluice reads the file in 1 MiB chunks and decodes one rows event at a time (a server writes a big transaction as many rows events of about 8 KiB); with more, the file is cut every 2 MiB (inside the transaction too) and a fixed number of chunks is in flight, in buffers allocated once. Either way its memory does not grow with the transaction.
`;
}

const bench: BenchModule = {
  name: "binlog-decode",
  async run({ quick }) {
    const sb = await startMariadb({
      binlogRowMetadata: "FULL",
      binlogRowImage: "FULL",
      extraArgs: ["--max-binlog-size=1073741824"],
    });
    try {
      const parts: string[] = [];
      const seed: Workload = {
        label: "Seed workload: 800 INSERTs + 800 UPDATEs + 800 DELETEs of 100 rows",
        statements: 800,
        rowsPerStatement: 100,
      };
      const small = await measure(sb, seed, "seed", 5);
      parts.push(small.md);
      parts.push(await peakMemory(sb));
      if (!quick) {
        const large: Workload = {
          label: "Larger: 800 + 800 + 800 statements of 400 rows",
          statements: 800,
          rowsPerStatement: 400,
        };
        const big = await measure(sb, large, "large", 3);
        parts.push(big.md);
        parts.push(steadyState(small, big));
      }
      return {
        title: "Binlog decode: sluice binlog read vs mariadb-binlog and zongji",
        command: `npm run bench -- binlog-decode${quick ? " --quick" : ""}`,
        markdown: `Each tool over the same binlog file, output discarded. The machine is shared (2 cores, other work running), so wall time is noisy: the tools take turns (one run of each, N times over, after the server that wrote the file has gone idle: InnoDB purges the deleted rows in the background), and the best of the N runs is shown for wall and for CPU time (each the least of its runs); throughput and ratios use CPU seconds (user + system, all threads) of the decoding process; for zongji that is the bench process decoding what the server sends (the server's own work is not counted). Sluice and mariadb-binlog read the file, zongji replicates it from the sandbox that wrote it (loopback). The Sluice CLI runs compiled and bundled as \`npm run build\` makes it (built by the bench into node_modules/.cache; through tsx if that build fails), start-up included; the library rows time the same code inside the bench process. The last two columns divide each tool's CPU time by Sluice's: above 1 means Sluice is cheaper.\n\nThe CLI runs with its default --jobs for the file (one thread per core for 256 MiB and more, else one) and with the other choice (docs/binlog-output.md, "Several threads"). Threads cost CPU time (each compiles the decoder for itself, the main one walks the file to cut it): they can only shorten the wall time, and only with idle cores. Each case ends with a line that says whether the goal is met in wall time and in CPU time.\n\n${parts.join("\n")}`,
      };
    } finally {
      await sb.stop();
    }
  },
};

export default bench;
