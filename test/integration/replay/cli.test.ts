import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { eventRecord } from "../../../src/capture/publish.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openStreamLog } from "../../../src/stream/index.ts";
import { waitFor } from "../wait.ts";
import { fixture, startCli as start } from "./cli-run.ts";
import { appendEvents, pcapEvents } from "./events.ts";

const sluice = (args: string[]) => start(args).done;

let db: MariadbSandbox;
let dir: string;
before(async () => {
  db = await startMariadb();
  await db.query("CREATE DATABASE sluice_capture");
  dir = mkdtempSync(join(tmpdir(), "sluice-replay-"));
});
after(async () => {
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("sluice replay --pcap --json --html: the comparison report, and a self-contained HTML page", async () => {
  const html = join(dir, "report.html");
  const r = await sluice([
    "replay",
    "--pcap",
    fixture("ps.pcap"),
    "--port",
    "44991",
    "--target",
    db.url,
    "--speed",
    "max",
    "--json",
    "--html",
    html,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.sessions, 1);
  assert.ok(summary.commands >= 11, String(summary.commands));
  assert.ok(
    summary.fingerprints.some((f: { fingerprint: string }) => f.fingerprint.startsWith("insert into ps")),
  );
  const page = readFileSync(html, "utf8");
  assert.match(page, /<svg /);
  assert.match(page, /insert into ps/);
  assert.doesNotMatch(page, /<script|src="http/);
});

test("sluice replay --from the stream log resumes after the group's committed position", async () => {
  const events = await pcapEvents("cli.pcap");
  const url = `file:${join(dir, "log.db")}`;
  const log = await openStreamLog(url);
  await appendEvents(log, "capture", events);
  const peek = await log.consumer("capture", "peek");
  const stored = await peek.read({ max: 10_000 });
  await peek.close();
  assert.equal(stored.length, events.length);
  // As if an earlier run had executed everything up to the first INSERT and was killed there.
  const insertAt = events.findIndex((e) => e.type === "command" && e.sql?.startsWith("INSERT"));
  const consumer = await log.consumer("capture", "r1");
  await consumer.commit((stored[insertAt]?.offset ?? 0) - 1);
  await consumer.close();
  await log.close();
  // Those statements created the database and table on the target.
  await db.query("CREATE DATABASE IF NOT EXISTS sluice_capture");
  await db.query(
    "CREATE TABLE sluice_capture.t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(32), n INT)",
  );

  const args = ["replay", "--from", url, "--group", "r1", "--target", db.url, "--speed", "max", "--json"];
  const first = await sluice(args);
  assert.equal(first.status, 0, first.stderr);
  const s1 = JSON.parse(first.stdout);
  const fps = s1.fingerprints.map((f: { fingerprint: string }) => f.fingerprint);
  assert.ok(
    fps.some((f: string) => f.startsWith("insert into t")),
    fps.join("|"),
  );
  assert.ok(!fps.some((f: string) => f.startsWith("create table")), fps.join("|"));
  const rows = await db.query<{ c: number }>("SELECT COUNT(*) AS c FROM sluice_capture.t");
  assert.equal(Number(rows[0]?.c), 2, "3 inserted, 1 deleted, once");

  const again = await sluice(args);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).commands, 0, "nothing replayed twice");
});

test("sluice replay --from reads the stream the URL names, as capture --to writes it", async () => {
  const events = await pcapEvents("cli.pcap");
  const path = join(dir, "named.db");
  const log = await openStreamLog(`file:${path}`);
  await appendEvents(log, "shop-traffic", events);
  await log.close();
  const commands = events.filter((e) => e.type === "command").length;
  const dry = (from: string, ...more: string[]) =>
    sluice(["replay", "--from", from, "--target", db.url, "--dry-run", "--json", ...more]);
  const named = await dry(`file:${path}?stream=shop-traffic`);
  assert.equal(named.status, 0, named.stderr);
  assert.equal(JSON.parse(named.stdout).commands, commands);
  // --stream wins over the URL; without either, the stream is capture's default
  const flag = await dry(`file:${path}?stream=none`, "--stream", "shop-traffic");
  assert.equal(flag.status, 0, flag.stderr);
  assert.equal(JSON.parse(flag.stdout).commands, commands);
  // a stream that is not there is an error that names the ones that are
  const unnamed = await dry(`file:${path}`);
  assert.equal(unnamed.status, 1, unnamed.stderr);
  const { error } = JSON.parse(unnamed.stderr.trim().split("\n").at(-1)!) as {
    error: { code: string; message: string; hint: string };
  };
  assert.equal(error.code, "STREAM_NOT_FOUND");
  assert.match(error.message, /no stream 'capture'/);
  assert.match(error.hint, /'shop-traffic'.*--stream NAME/);
});

test("sluice replay --follow plays a stream while it is written, and commits what it executed", async () => {
  const events = await pcapEvents("ps.pcap");
  await db.query("DROP TABLE IF EXISTS sluice_capture.ps");
  const url = `file:${join(dir, "live.db")}`;
  const log = await openStreamLog(url);
  const producer = await log.producer("capture");
  // The first half now (the table is created and rows are inserted), the rest while the replay runs.
  const firstSelect = events.findIndex(
    (e) => e.type === "command" && e.kind === "stmt_prepare" && e.sql?.startsWith("SELECT"),
  );
  await producer.append(events.slice(0, firstSelect).map(eventRecord));
  const run = start([
    "replay",
    "--from",
    url,
    "--group",
    "live",
    "--follow",
    "--target",
    db.url,
    "--speed",
    "max",
    "--json",
  ]);
  const until = (what: string, check: () => Promise<boolean>) =>
    waitFor(what, check, { detail: () => `stderr: ${run.stderr()}` });
  await until("rows inserted", async () => {
    const r = await db.query<{ c: number }>(
      "SELECT COUNT(*) AS c FROM information_schema.tables WHERE table_schema = 'sluice_capture' AND table_name = 'ps'",
    );
    if (Number(r[0]?.c) === 0) return false;
    return Number((await db.query<{ c: number }>("SELECT COUNT(*) AS c FROM sluice_capture.ps"))[0]?.c) === 3;
  });
  await producer.append(events.slice(firstSelect).map(eventRecord));
  await producer.close();
  await until("everything committed", async () => {
    const info = await log.info("capture");
    return info.groups.find((g) => g.group === "live")?.lag === 0;
  });
  run.child.kill("SIGINT");
  const { status, stdout, stderr } = await run.done;
  assert.equal(status, 0, stderr);
  const summary = JSON.parse(stdout);
  assert.equal(summary.sessions, 1);
  const fps = summary.fingerprints.map((f: { fingerprint: string }) => f.fingerprint);
  assert.ok(fps.includes("select id, name from ps where id>=? order by id"), fps.join("|"));
  assert.equal(summary.differences.errors, 0, stdout);
  await log.close();
});
