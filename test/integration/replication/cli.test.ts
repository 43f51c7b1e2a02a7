import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

let sb: MariadbSandbox;

function sluice(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["bin/sluice.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_MYSQL_PASSWORD: "", ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  sb = await startMariadb({});
  await sb.query("CREATE DATABASE d");
  await sb.query("CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20), b BLOB)");
  await sb.query("INSERT INTO d.t VALUES (1, 'one', x'00ff'), (2, 'two', NULL)");
  await sb.query("FLUSH BINARY LOGS");
  await sb.query("UPDATE d.t SET v = 'uno' WHERE id = 1");
});

after(async () => {
  await sb?.stop();
});

test("binlog stream --until-head prints what binlog read prints for the same files", async () => {
  const [user, password] = /\/\/([^:]+):([^@]+)@/.exec(sb.replicationUrl)!.slice(1) as [string, string];
  // The password comes from the environment here, not the URL.
  const url = `mysql://${user}@127.0.0.1:${sb.port}`;
  const streamed = sluice(["binlog", "stream", url, "--start", "earliest", "--until-head"], {
    SLUICE_MYSQL_PASSWORD: password,
  });
  assert.equal(streamed.code, 0, streamed.stderr);
  const logs = await sb.query<{ Log_name: string }>("SHOW BINARY LOGS");
  const read = sluice(["binlog", "read", ...logs.map((l) => join(sb.binlogDir, l.Log_name))]);
  assert.equal(read.code, 0, read.stderr);
  // The stream also carries the events a server makes up for a dump (a ROTATE naming each file, at
  // offset == next); everything else must be the same, line for line.
  const real = streamed.stdout
    .trim()
    .split("\n")
    .filter((line) => {
      const p = (JSON.parse(line) as { position: { offset: number; next: number } }).position;
      return p.offset !== p.next;
    });
  const readLines = read.stdout.trim().split("\n");
  assert.deepEqual(real, readLines.slice(0, real.length));
  // A BINLOG_CHECKPOINT the server writes in the background after the stream's head is all read may add.
  assert.ok(readLines.slice(real.length).every((l) => l.includes('"type":"mariadb_binlog_checkpoint"')));
  assert.ok(real.some((l) => l.includes('"type":"update_rows_v1"') && l.includes('"uno"')));
});

test("text format, and a stop position", () => {
  const r = sluice([
    "binlog",
    "stream",
    sb.replicationUrl,
    "--start",
    "mariadb-bin.000001:4",
    "--stop",
    "mariadb-bin.000002:4",
    "--format",
    "text",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /mariadb-bin\.000001/);
  assert.doesNotMatch(r.stdout, /uno/);
});

test("a wrong password: exit 1, a message naming user@host:port, no password", () => {
  const url = sb.replicationUrl.replace(/:([^:@/]+)@/, ":Wr0ng-pw@");
  const r = sluice(["binlog", "stream", url, "--until-head"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`MYSQL_ACCESS_DENIED: access denied for repl@127\\.0\\.0\\.1:${sb.port}`),
  );
  assert.match(r.stderr, /errno=1045 sqlState=28000/);
  assert.doesNotMatch(r.stderr, /Wr0ng-pw/);
});

test("a bad start position is a usage error", () => {
  const r = sluice(["binlog", "stream", sb.replicationUrl, "--start", "yesterday"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /start position 'yesterday' is not understood/);
});
