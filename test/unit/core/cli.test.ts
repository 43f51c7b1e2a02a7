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
