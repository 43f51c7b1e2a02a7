import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { SluiceError } from "../../core/errors.ts";
import { formatDuration } from "../../core/units.ts";
import { type MariadbSandbox, startMariadb } from "../../sandbox/index.ts";
import { action } from "../context.ts";

/**
 * `sluice demo`: Sluice's main job end to end on embedded defaults. It starts a sandboxed source and
 * target, captures the source's traffic while a small shop workload runs, then runs the same commands
 * a user would: change capture into a history store on the target and into the embedded stream log,
 * the history of one row, the stream log's state, and a digest of the captured traffic. Each step
 * prints the command it runs, so the demo doubles as a tour.
 */
export function register(program: Command): void {
  program
    .command("demo")
    .description(
      "run Sluice end to end on throwaway servers: workload, traffic capture and digest, change capture into a history store and the stream log",
    )
    .option("--dir <dir>", "working directory for the demo's files (default: a fresh temp dir)")
    .option(
      "--keep",
      "leave the sandboxes running and the files in place (stop with `sluice sandbox stop --all`)",
    )
    .option("--rows <n>", "rows the workload inserts per table", "200")
    .action(
      action(async (opts: { dir?: string; keep?: boolean; rows: string }) => {
        const rows = Number(opts.rows);
        if (!Number.isInteger(rows) || rows < 10 || rows > 100_000) {
          throw new SluiceError(
            "USAGE_DEMO_ROWS",
            `--rows must be an integer from 10 to 100000, got '${opts.rows}'`,
          );
        }
        await runDemo({ dir: opts.dir, keep: opts.keep === true, rows });
        return 0;
      }),
    );
}

/** bin/sluice.js: three levels up from src/cli/commands, four from the compiled dist/src/cli/commands. */
const BIN =
  ["../../../bin/sluice.js", "../../../../bin/sluice.js"]
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
    .find((p) => existsSync(p)) ?? fileURLToPath(new URL("../../../bin/sluice.js", import.meta.url));
const bold = (s: string) => (process.stdout.isTTY ? `\u001b[1m${s}\u001b[0m` : s);

function step(title: string): void {
  process.stdout.write(`\n${bold(`== ${title}`)}\n`);
}

/** Runs a sluice command as a user would, echoing it, and fails the demo if it fails. */
function sluice(args: string[], show = args.join(" ")): string {
  process.stdout.write(`$ sluice ${show}\n`);
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.stdout) process.stdout.write(r.stdout.endsWith("\n") ? r.stdout : `${r.stdout}\n`);
  if (r.status !== 0) {
    throw new SluiceError(
      "DEMO_STEP_FAILED",
      `step 'sluice ${show}' exited with ${r.status}: ${r.stderr.trim()}`,
      {
        hint: "rerun with --keep to inspect the sandboxes and files",
      },
    );
  }
  return r.stdout;
}

async function workload(db: MariadbSandbox, rows: number): Promise<void> {
  await db.query("CREATE DATABASE shop");
  await db.query(
    "CREATE TABLE shop.users (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(128), created DATETIME(3) NOT NULL)",
  );
  await db.query(
    "CREATE TABLE shop.orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL, status ENUM('open','paid','shipped','cancelled') NOT NULL DEFAULT 'open', note JSON)",
  );
  for (let i = 1; i <= rows; i++) {
    await db.query("INSERT INTO shop.users VALUES (?, ?, ?, ?)", [
      i,
      `user ${i}`,
      `user${i}@example.com`,
      `2026-01-01 00:00:${String(i % 60).padStart(2, "0")}.${String(i % 1000).padStart(3, "0")}`,
    ]);
    await db.query("INSERT INTO shop.orders (user_id, amount, note) VALUES (?, ?, ?)", [
      i,
      (i * 7.25).toFixed(2),
      JSON.stringify({ items: i % 5, gift: i % 3 === 0 }),
    ]);
  }
  await db.query("UPDATE shop.orders SET status = 'paid' WHERE id % 2 = 0");
  await db.query("ALTER TABLE shop.users ADD COLUMN tier VARCHAR(16) NOT NULL DEFAULT 'basic' AFTER name");
  await db.query("UPDATE shop.users SET tier = 'gold', email = 'seven@example.com' WHERE id = 7");
  await db.query("DELETE FROM shop.orders WHERE status = 'open' AND id % 3 = 0");
  await db.query("DELETE FROM shop.users WHERE id = 7");
  // A few reads, so the traffic digest has queries with result sets too.
  for (let i = 0; i < 50; i++) await db.query("SELECT name, tier FROM shop.users WHERE id = ?", [i + 1]);
  await db.query("SELECT status, COUNT(*), SUM(amount) FROM shop.orders GROUP BY status");
}

/** Starts tcpdump on loopback for the source's port; undefined (with the reason printed) where it cannot run. */
interface Capture {
  child: ChildProcess;
  stderr(): string;
}

async function startCapture(port: number, file: string): Promise<Capture | undefined> {
  const which = spawnSync("sh", ["-c", "command -v tcpdump"], { encoding: "utf8" });
  if (which.status !== 0) {
    process.stdout.write("(skipping traffic capture: tcpdump is not installed; apt-get install tcpdump)\n");
    return undefined;
  }
  process.stdout.write(`$ tcpdump -i lo --immediate-mode -B 32768 -U -s 0 -w ${file} 'tcp port ${port}'\n`);
  // Immediate mode: without it tcpdump reads the kernel ring in blocks and loses the last block on SIGINT.
  const args = [
    "-i",
    "lo",
    "--immediate-mode",
    "-B",
    "32768",
    "-U",
    "-s",
    "0",
    "-w",
    file,
    "tcp",
    "port",
    String(port),
  ];
  const child = spawn("tcpdump", args, {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  for (let i = 0; i < 100 && !err.includes("listening on"); i++) {
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  if (!err.includes("listening on")) {
    child.kill();
    process.stdout.write(
      `(skipping traffic capture: tcpdump did not start: ${err.trim() || "no output"}; it needs root)\n`,
    );
    return undefined;
  }
  return { child, stderr: () => err };
}

/** Stops tcpdump and prints its own counts, so that kernel drops are visible. */
async function stopCapture({ child, stderr }: Capture): Promise<void> {
  // Let the last packets reach the file before stopping.
  await sleep(500);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT");
  await exited;
  const counts = stderr()
    .split("\n")
    .filter((l) => /packets (captured|received by filter|dropped by kernel)/.test(l));
  if (counts.length) process.stdout.write(`tcpdump: ${counts.map((l) => l.trim()).join(", ")}\n`);
}

async function runDemo(opts: { dir: string | undefined; keep: boolean; rows: number }): Promise<void> {
  const started = Date.now();
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "sluice-demo-"));
  const sandboxes: MariadbSandbox[] = [];
  try {
    step("1. Two throwaway MariaDB servers: a source and a target");
    const detached = opts.keep;
    const source = await startMariadb({ name: "demo-source", detached, keep: opts.keep });
    sandboxes.push(source);
    const target = await startMariadb({ name: "demo-target", detached, keep: opts.keep });
    sandboxes.push(target);
    process.stdout.write(
      `source ${source.url} (server id ${source.serverId}, binlog in ${source.binlogDir})\n`,
    );
    process.stdout.write(`target ${target.url} (server id ${target.serverId})\n`);

    step("2. A shop workload on the source, its traffic captured on loopback");
    const pcap = join(dir, "source-traffic.pcap");
    const capture = await startCapture(source.port, pcap);
    const t0 = Date.now();
    await workload(source, opts.rows);
    if (capture) await stopCapture(capture);
    process.stdout.write(
      `${opts.rows} users and orders inserted, orders paid, a column added, rows updated and deleted, 51 reads (${formatDuration(Date.now() - t0)})\n`,
    );

    step("3. What the traffic looked like: a digest by query fingerprint");
    if (capture && existsSync(pcap))
      sluice(["digest", "--pcap", pcap, "--port", String(source.port), "--top", "8"]);

    step("4. Change capture: the source's binlog into a history store on the target");
    const store = `${target.url}/sluice_history`;
    await target.query("CREATE DATABASE IF NOT EXISTS sluice_history");
    const repl = source.replicationUrl;
    const replShown = repl.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
    sluice(
      [
        "cdc",
        "run",
        "--source",
        repl,
        "--store",
        store,
        "--start",
        "earliest",
        "--until-head",
        "--include",
        "shop.*",
      ],
      `cdc run --source ${replShown} --store ${store} --start earliest --until-head --include 'shop.*'`,
    );
    sluice(
      ["cdc", "status", "--store", store, "--source", repl],
      `cdc status --store ${store} --source ${replShown}`,
    );

    step("5. The history of one row: user 7 was inserted, changed, then deleted");
    sluice(["history", "row", "shop.users", "--pk", "7", "--store", store]);

    step("6. The same changes into the embedded stream log, for the next stage to consume");
    const log = `file:${join(dir, "stream.db")}`;
    const checkpoints = `file:${join(dir, "checkpoints.db")}`;
    sluice(
      [
        "cdc",
        "run",
        "--source",
        repl,
        "--sink",
        "stream",
        "--to",
        log,
        "--checkpoint",
        checkpoints,
        "--start",
        "earliest",
        "--until-head",
        "--include",
        "shop.*",
      ],
      `cdc run --source ${replShown} --sink stream --to ${log} --checkpoint ${checkpoints} --start earliest --until-head --include 'shop.*'`,
    );
    // `cdc run --sink stream` writes to the stream "cdc" unless the URL names one.
    sluice(["stream", "tail", log, "--stream", "cdc", "--group", "demo-consumer", "--max", "3"]);
    sluice(["stream", "info", log, "--stream", "cdc"]);

    step("Done");
    process.stdout.write(
      `Sluice captured and digested the source's traffic, collected every row change into ${store} and into the stream log ${log}, in ${formatDuration(Date.now() - started)}.\n`,
    );
    if (opts.keep) {
      process.stdout.write(
        `Kept: files in ${dir}; sandboxes demo-source and demo-target (sluice sandbox stop --all).\n`,
      );
    }
  } finally {
    if (!opts.keep) {
      for (const s of sandboxes.reverse()) await s.stop().catch(() => undefined);
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    }
  }
}
