import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import mysql from "mysql2/promise";
import { isAlive } from "../../../src/sandbox/process.ts";
import { waitFor } from "../wait.ts";

// A registry of our own: the test neither sees nor touches sandboxes started by anyone else.
const registry = mkdtempSync(join(tmpdir(), "sluice-sandbox-registry-test-"));

const sluice = (...args: string[]) =>
  spawnSync(process.execPath, ["bin/sluice.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_SANDBOX_DIR: registry },
  });

after(() => {
  sluice("sandbox", "stop", "--all");
  rmSync(registry, { recursive: true, force: true });
});

test("sandbox start/status/list/stop round trip from the CLI", async () => {
  // Defaults from the config file's sandbox section; flags win over it.
  const config = join(registry, "sluice.yaml");
  writeFileSync(
    config,
    "sandbox:\n  rowMetadata: FULL\n  rowImage: NOBLOB\n  serverArgs: ['--max-connections=77']\n",
  );
  const start = sluice(
    "--config",
    config,
    "sandbox",
    "start",
    "--name",
    "cli-src",
    "--row-metadata",
    "MINIMAL",
    "--general-log",
    "--json",
  );
  assert.equal(start.status, 0, start.stderr);
  const rec = JSON.parse(start.stdout) as {
    name: string;
    pid: number;
    port: number;
    url: string;
    datadir: string;
    replicationUrl: string;
    generalLogFile: string;
  };
  assert.equal(rec.name, "cli-src");
  // The server outlives the command that started it.
  assert.ok(isAlive(rec.pid));
  const conn = await mysql.createConnection(rec.url);
  try {
    const [rows] = await conn.query(
      "SELECT @@binlog_row_metadata AS m, @@binlog_row_image AS i, @@max_connections AS c, @@general_log AS g",
    );
    assert.deepEqual(rows, [{ m: "MINIMAL", i: "NOBLOB", c: 77, g: 1 }]);
    await conn.query("CREATE DATABASE cli_check");
  } finally {
    await conn.end();
  }
  const repl = await mysql.createConnection(rec.replicationUrl);
  await repl.end();

  const status = sluice("sandbox", "status", "cli-src", "--json");
  assert.equal(status.status, 0, status.stderr);
  const st = JSON.parse(status.stdout) as {
    running: boolean;
    port: number;
    binlogFile: string;
    binlogPosition: number;
    gtidBinlogPos: string;
  };
  assert.equal(st.running, true);
  assert.equal(st.port, rec.port);
  assert.equal(st.binlogFile, "mariadb-bin.000001");
  assert.ok(st.binlogPosition > 330, "the CREATE DATABASE moved the binlog position");
  assert.equal(st.gtidBinlogPos, `0-${rec.port}-1`);

  const human = sluice("sandbox", "status", "cli-src");
  assert.match(human.stdout, /cli-src \(mariadb\): running/);

  const list = sluice("sandbox", "list", "--json");
  assert.equal(list.status, 0, list.stderr);
  assert.deepEqual(
    (JSON.parse(list.stdout) as { name: string; running: boolean }[]).map((s) => [s.name, s.running]),
    [["cli-src", true]],
  );

  const taken = sluice("sandbox", "start", "--name", "cli-src");
  assert.equal(taken.status, 1);
  assert.match(taken.stderr, /SANDBOX_NAME_TAKEN/);

  const stop = sluice("sandbox", "stop", "cli-src");
  assert.equal(stop.status, 0, stop.stderr);
  assert.match(stop.stdout, /stopped cli-src/);
  assert.equal(isAlive(rec.pid), false);
  assert.equal(existsSync(rec.datadir), false);

  const gone = sluice("sandbox", "status", "cli-src", "--json");
  assert.equal(gone.status, 1);
  assert.equal((JSON.parse(gone.stderr) as { error: { code: string } }).error.code, "SANDBOX_UNKNOWN");
  assert.match(sluice("sandbox", "list").stdout, /no sandboxes recorded/);
});

test("sandbox start --kind memcached and stop --all", () => {
  const start = sluice("sandbox", "start", "--kind", "memcached", "--name", "cli-cache", "--json");
  assert.equal(start.status, 0, start.stderr);
  const rec = JSON.parse(start.stdout) as { pid: number; url: string };
  assert.match(rec.url, /^memcached:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(isAlive(rec.pid));
  const stop = sluice("sandbox", "stop", "--all", "--json");
  assert.equal(stop.status, 0, stop.stderr);
  assert.deepEqual(
    (JSON.parse(stop.stdout) as { stopped: { name: string; wasRunning: boolean }[] }).stopped.map((s) => [
      s.name,
      s.wasRunning,
    ]),
    [["cli-cache", true]],
  );
  assert.equal(isAlive(rec.pid), false);
});

test("a bad key in the config file's sandbox section is a usage error that names it", () => {
  const config = join(registry, "bad.yaml");
  writeFileSync(config, "sandbox:\n  rowMeta: FULL\n");
  const r = sluice("--config", config, "sandbox", "start");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /CONFIG_INVALID.*sandbox.*rowMeta/);
});

test("sandbox stop without a name is a usage error", () => {
  const r = sluice("sandbox", "stop");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /sandbox stop NAME/);
});

test("a stopped sandbox's record shows as not running, and stop clears it", async () => {
  const start = sluice("sandbox", "start", "--name", "cli-dead", "--json");
  assert.equal(start.status, 0, start.stderr);
  const rec = JSON.parse(start.stdout) as { pid: number; datadir: string };
  process.kill(rec.pid, "SIGKILL");
  await waitFor("the killed server gone", () => !isAlive(rec.pid), { everyMs: 20 });
  const list = JSON.parse(sluice("sandbox", "list", "--json").stdout) as { name: string; running: boolean }[];
  assert.deepEqual(
    list.map((s) => [s.name, s.running]),
    [["cli-dead", false]],
  );
  const stop = sluice("sandbox", "stop", "cli-dead");
  assert.equal(stop.status, 0, stop.stderr);
  assert.match(stop.stdout, /cli-dead was not running/);
  assert.equal(existsSync(rec.datadir), false);
});
