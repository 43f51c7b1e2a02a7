#!/usr/bin/env node
// Runs the test suite with node's test runner: unit tests (bytes in, values out) and integration tests
// (real servers from the sandbox launcher). `node scripts/run-tests.mjs unit|integration [filter]`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const [tier, filter] = process.argv.slice(2);
const roots =
  tier === "unit"
    ? ["test/unit"]
    : tier === "integration"
      ? ["test/integration"]
      : ["test/unit", "test/integration"];

function walk(dir) {
  let out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const files = roots
  .flatMap(walk)
  .filter((f) => !filter || f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${roots.join(", ")}${filter ? ` matching ${filter}` : ""}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=2",
    // A test file that hangs fails after this and the other files go on, instead of the run never
    // ending (the slowest file takes a few minutes on a loaded two-core machine).
    `--test-timeout=${15 * 60_000}`,
    "--test-reporter=spec",
    ...files,
  ],
  { stdio: "inherit", env: { ...process.env, SLUICE_TEST: "1" } },
);
process.exit(result.status ?? 1);
