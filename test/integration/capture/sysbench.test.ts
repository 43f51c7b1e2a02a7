import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { CaptureDecoder } from "../../../src/capture/decoder.ts";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { LiveCapture } from "../../../src/capture/live.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

// Real traffic, captured live on loopback by tcpdump (through LiveCapture, as `sluice capture -i lo`
// does), decoded, and compared with what the server itself logged for the same run.
const tools = ["tcpdump", "sysbench", "mariadb"].filter((t) => spawnSync("which", [t]).status !== 0);
const skip = tools.length > 0 ? `missing ${tools.join(", ")} (apt-get install -y ${tools.join(" ")})` : false;

const execFileAsync = promisify(execFile);
let server: MariadbSandbox;

before(async () => {
  if (skip) return;
  server = await startMariadb({ generalLog: true });
  await server.query("CREATE DATABASE sbtest");
  execFileSync("sysbench", [...sysbenchArgs(), "prepare"], { stdio: "ignore" });
});

after(async () => {
  await server?.stop();
});

function sysbenchArgs(): string[] {
  return [
    "oltp_read_write",
    "--mysql-host=127.0.0.1",
    `--mysql-port=${server.port}`,
    "--mysql-user=root",
    "--mysql-db=sbtest",
    "--tables=1",
    "--table-size=1000",
  ];
}

/** General-log entries (command names) written after byte offset `from`. */
function loggedCommands(file: string, from: number): Map<string, number> {
  const text = readFileSync(file).subarray(from).toString("utf8");
  const counts = new Map<string, number>();
  const re =
    /^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\s+\d+ (Connect|Query|Prepare|Execute|Close stmt|Reset stmt|Quit|Init DB|Ping)\b/gm;
  for (const m of text.matchAll(re)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}

const LOG_NAMES: Record<string, string> = {
  query: "Query",
  stmt_prepare: "Prepare",
  stmt_execute: "Execute",
  stmt_close: "Close stmt",
  stmt_reset: "Reset stmt",
  quit: "Quit",
  init_db: "Init DB",
  ping: "Ping",
};

test("sysbench oltp_read_write captured live: as many commands decoded as the general log recorded", {
  skip,
}, async (t) => {
  const logFile = server.generalLogFile!;
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e), { serverPorts: [server.port] });
  const live = new LiveCapture(
    { interface: "lo", filter: `tcp port ${server.port}`, bufferKiB: 131072, immediate: true },
    (f) => decoder.frame(f),
  );
  await live.ready;
  const from = statSync(logFile).size;
  // Asynchronously: a blocked event loop would stop reading tcpdump's pipe (and the kernel would drop).
  await execFileAsync("sysbench", [...sysbenchArgs(), "--threads=2", "--time=2", "run"]);
  await live.stop();
  decoder.finish();

  const logged = loggedCommands(logFile, from);
  t.diagnostic(
    `tcpdump: ${JSON.stringify(live.kernelStats)}; gaps ${decoder.stats.gaps}; logged ${JSON.stringify([...logged])}`,
  );
  const decoded = new Map<string, number>();
  for (const e of events) {
    const name = e.type === "connect" ? "Connect" : e.type === "command" ? LOG_NAMES[e.kind] : undefined;
    if (name) decoded.set(name, (decoded.get(name) ?? 0) + 1);
  }
  const ran = logged.get("Execute") ?? 0;
  assert.ok(
    ran > 1000,
    `sysbench ran: ${JSON.stringify([...logged])} decoded ${JSON.stringify([...decoded])}`,
  );
  if (live.kernelStats.droppedByKernel === 0 && live.kernelStats.droppedByInterface === 0) {
    assert.equal(decoder.stats.gaps, 0);
    assert.deepEqual([...decoded].sort(), [...logged].sort());
    // Every execute is answered.
    const executes = events.filter((e) => e.type === "command" && e.kind === "stmt_execute").length;
    const answered = events.filter((e) => e.type === "response" && e.kind === "stmt_execute").length;
    assert.equal(answered, executes);
  } else {
    // The kernel dropped packets (an overloaded machine): never an extra command, and any command
    // missing must show as a gap (drops of bare ACKs lose nothing).
    for (const [name, n] of decoded) assert.ok(n <= (logged.get(name) ?? 0), name);
    const short = [...logged].some(([name, n]) => (decoded.get(name) ?? 0) < n);
    if (short) assert.ok(decoder.stats.gaps > 0);
  }
});
