import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startRegisteredMariadb } from "../../../src/sandbox/index.ts";

/** Pids of the processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test("a sandbox that cannot be recorded is stopped again, not left running unnamed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-registry-test-"));
  const saved = process.env.SLUICE_SANDBOX_DIR;
  try {
    const notADirectory = join(dir, "file");
    writeFileSync(notADirectory, "");
    process.env.SLUICE_SANDBOX_DIR = join(notADirectory, "registry");
    const base = join(dir, "base");
    await assert.rejects(startRegisteredMariadb({ baseDir: base, name: "unrecorded" }), {
      code: "SANDBOX_REGISTRY_UNWRITABLE",
    });
    assert.deepEqual(processesMentioning(`--datadir=${base}/`), []);
    assert.deepEqual(readdirSync(base), []);
  } finally {
    if (saved === undefined) delete process.env.SLUICE_SANDBOX_DIR;
    else process.env.SLUICE_SANDBOX_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
