import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { localBroker, type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import { relay } from "../tcp-relay.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const fixture = (name: string) => join(root, "test/fixtures/pcap", name);
const env = { ...process.env, SLUICE_FROM_SOURCE: "1" };

function sluice(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ["bin/sluice.js", ...args], { cwd: root, env, encoding: "utf8" });
}

const lines = (text: string) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test("sluice capture --pcap --json: events as JSON lines, final statistics on stderr", () => {
  const r = sluice(["capture", "--pcap", fixture("cli.pcapng"), "--port", "44991", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const events = lines(r.stdout) as SessionEvent[];
  assert.equal(events[0]?.type, "connect");
  assert.equal(events.filter((e) => e.type === "command").length, 14);
  assert.equal(events.filter((e) => e.type === "response" && !e.ok).length, 1);
  const stats = lines(r.stderr).find((l) => l.final);
  assert.equal(stats.stats.commands, 14);
  // "-" reads standard input: tcpdump -w - | sluice capture --pcap -
  const piped = spawnSync(
    process.execPath,
    ["bin/sluice.js", "capture", "--pcap", "-", "--port", "44991", "--json"],
    {
      cwd: root,
      env,
      encoding: "utf8",
      input: readFileSync(fixture("cli.pcapng")),
    },
  );
  assert.equal(piped.status, 0, piped.stderr);
  assert.deepEqual(lines(piped.stdout), events);
});

test("sluice capture --print and sluice digest for people; errors name the file", () => {
  const printed = sluice(["capture", "--pcap", fixture("ps.pcap"), "--port", "44991"]);
  assert.equal(printed.status, 0, printed.stderr);
  assert.match(
    printed.stdout,
    /stmt_execute stmt \d+ \(1, 'name-1', '12\.50', '2024-01-01 10:20:30\.123000'/,
  );
  assert.match(printed.stdout, /-> ERR 1146 \(42S02\)/);
  const digest = sluice([
    "digest",
    "--pcap",
    fixture("sysbench.pcap"),
    "--port",
    "44991",
    "--json",
    "--top",
    "3",
  ]);
  assert.equal(digest.status, 0, digest.stderr);
  const d = JSON.parse(digest.stdout);
  assert.equal(d.queries.length, 3);
  assert.equal(d.commands, 342);
  const missing = sluice(["digest", "--pcap", "/nonexistent.pcap"]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /CAPTURE_NO_FILE.*nonexistent\.pcap/);
  const usage = sluice(["capture"]);
  assert.equal(usage.status, 2);
});

const noTcpdump = spawnSync("which", ["tcpdump"]).status !== 0 ? "tcpdump is not installed" : false;
let server: MariadbSandbox;
let dir: string;

before(async () => {
  if (noTcpdump) return;
  server = await startMariadb();
  await server.query("CREATE DATABASE shop");
  dir = mkdtempSync(join(tmpdir(), "sluice-capture-cli-"));
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `sluice capture -i lo --json` of the sandbox's traffic, with more arguments. */
function liveCapture(args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ["bin/sluice.js", "capture", "-i", "lo", "--filter", `tcp port ${server.port}`, "--json", ...args],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] },
  );
}

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  let text = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) resolve();
    });
    child.on("close", (code) => reject(new Error(`capture exited (${code}): ${text}`)));
  });
}

test("live: sluice capture -i lo decodes new and already-open sessions (processlist) and publishes to the stream log", {
  skip: noTcpdump,
}, async () => {
  const url = `mysql://root@127.0.0.1:${server.port}`;
  // Opened before the capture: its handshake (user, database) will not be seen.
  const early = await mysql.createConnection({
    host: "127.0.0.1",
    port: server.port,
    user: "root",
    database: "shop",
  });
  const log = `file:${join(dir, "capture.db")}`;
  const child = liveCapture(["--processlist", url, "--to", log, "--stats-interval", "1"]);
  let stdout = "";
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  try {
    await waitForLine(child, /capturing on lo/);
    await early.query("SELECT 'from an early connection'");
    const late = await mysql.createConnection({ host: "127.0.0.1", port: server.port, user: "root" });
    await late.query("USE shop");
    await late.query("SELECT 'from a late connection'");
    await late.end();
  } finally {
    await early.end();
  }
  await waitForLine(child, /"stats"/);
  child.kill("SIGINT");
  await new Promise((r) => child.on("close", r));
  const events = lines(stdout) as SessionEvent[];
  const earlyQuery = events.find(
    (e) => e.type === "command" && e.sql === "SELECT 'from an early connection'",
  );
  assert.ok(earlyQuery && earlyQuery.type === "command");
  assert.equal(earlyQuery.db, "shop");
  const earlyConnect = events.find((e) => e.type === "connect" && e.session === earlyQuery.session);
  assert.ok(earlyConnect && earlyConnect.type === "connect");
  assert.deepEqual([earlyConnect.midStream, earlyConnect.user], [true, "root"]);
  const lateQuery = events.find((e) => e.type === "command" && e.sql === "SELECT 'from a late connection'");
  assert.ok(lateQuery && lateQuery.type === "command");
  assert.equal(lateQuery.db, "shop"); // learned from USE

  const stream = await openStreamLog(log);
  try {
    const stored = await stream.read("capture", 0, { max: 10_000 });
    assert.equal(stored.length, events.length);
    assert.deepEqual(JSON.parse(Buffer.from(stored[0]!.value).toString()), events[0]);
  } finally {
    await stream.close();
  }
});

test("live: sluice capture --to amqp:// stops with exit 1 when the broker stays away past the reconnect budget", {
  skip: noTcpdump,
  // (a capture that runs on fails here rather than holding the suite)
  timeout: 120_000,
}, async () => {
  // A TCP relay of the test's own between the capture and the shared broker, cut for good: a fault
  // injector for a broker that vanished (the broker itself is never stopped).
  const broker = await localBroker("rabbitmq");
  const net = await relay(broker.port, { host: broker.host });
  const stream = `capture-lost-${process.pid}-${Date.now()}`;
  const child = liveCapture([
    "--to",
    `amqp://guest:guest@127.0.0.1:${net.port}/${stream}?backoff_min=100ms&backoff_max=200ms&reconnect=1s`,
  ]);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const conn = await mysql.createConnection({ host: "127.0.0.1", port: server.port, user: "root" });
  try {
    await waitForLine(child, /capturing on lo/);
    await conn.query("SELECT 'published'");
    net.down();
    // traffic while the broker is away: its events wait for the reconnect, then fail for good
    let code: number | null | undefined;
    void exited.then((c) => {
      code = c;
    });
    while (code === undefined) {
      await conn.query("SELECT 'while the broker is away'");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(code, 1, stderr);
  } finally {
    await conn.end();
    child.kill("SIGKILL");
    net.close();
  }
  // (the log lines are for people; the statistics and the error are JSON with --json)
  const last = stderr
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"));
  const final = last.map((l) => JSON.parse(l)).find((l) => l.final);
  assert.ok(final, `final statistics before the error: ${stderr}`);
  assert.ok(final.stats.commands >= 2);
  const { error } = JSON.parse(last.at(-1)!) as { error: { code: string; message: string; hint: string } };
  assert.equal(error.code, "STREAM_BROKER_LOST");
  assert.match(error.message, /could not reconnect within 1s/);
  assert.match(error.hint, /restart/);
  const direct = await openStreamLog(broker.url);
  try {
    await direct.deleteStream(stream).catch(() => {});
  } finally {
    await direct.close();
  }
});
