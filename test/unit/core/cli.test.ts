import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const run = (...args: string[]) =>
  spawnSync(process.execPath, ["bin/sluice.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
  });

test("sluice --help lists the global options and exit codes", () => {
  const r = run("--help");
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--log-format/);
  assert.match(r.stdout, /Exit codes/);
});

test("an unknown flag is a usage error with exit code 2", () => {
  const r = run("--no-such-flag");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option/);
});

test("a bad option value is a usage error (exit 2) that names the option", () => {
  const r = run(
    "replay",
    "--pcap",
    "x.pcap",
    "--target",
    "mysql://root@127.0.0.1:1",
    "--max-connections",
    "x",
  );
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--max-connections must be an integer, got 'x'/);
  const zero = run(
    "replay",
    "--pcap",
    "x.pcap",
    "--target",
    "mysql://root@127.0.0.1:1",
    "--commit-batch",
    "0",
  );
  assert.equal(zero.status, 2);
  assert.match(zero.stderr, /--commit-batch must be at least 1/);
});

test("a server URL with the wrong scheme is a usage error (exit 2) with what to write", () => {
  const r = run("binlog", "read", "--schema-from", "postgres://u:secret@h/db", "x.bin");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /USAGE_MYSQL_URL: unsupported scheme postgres:/);
  assert.match(r.stderr, /hint: write mysql:\/\//);
  assert.doesNotMatch(r.stderr, /secret/);
});

test("binlog read --jobs 0 is a usage error (exit 2) that names the option", () => {
  const r = run("binlog", "read", "--jobs", "0", "x.bin");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--jobs must be at least 1/);
});
