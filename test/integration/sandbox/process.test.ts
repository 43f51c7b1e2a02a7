import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { commandLineOf, isAlive, tailOfFile, terminate } from "../../../src/sandbox/process.ts";

test("a zombie counts as dead: an orphaned server nobody reaps yet is gone for us", async () => {
  // The inner `sleep 0` exits at once; its parent becomes `sleep 5` (exec), which never reaps it.
  const sh = spawn("/bin/sh", ["-c", "sleep 0 & echo $!; exec sleep 5"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  try {
    const zombiePid = Number(
      (await new Promise<Buffer>((resolve) => sh.stdout.once("data", resolve))).toString(),
    );
    const deadline = Date.now() + 5_000;
    while (isAlive(zombiePid) && Date.now() < deadline) await sleep(10);
    assert.doesNotThrow(() => process.kill(zombiePid, 0), "the zombie still has its pid");
    assert.equal(isAlive(zombiePid), false);
    assert.equal(isAlive(sh.pid!), true);
    assert.match(commandLineOf(sh.pid!) ?? "", /^sleep 5/);
  } finally {
    sh.kill("SIGKILL");
  }
});

test("terminate escalates to SIGKILL when SIGTERM is ignored", async () => {
  const stubborn = spawn("/bin/sh", ["-c", "trap '' TERM; while :; do sleep 0.05; done"], {
    stdio: "ignore",
  });
  await sleep(100);
  await terminate(stubborn.pid!, 300);
  assert.equal(isAlive(stubborn.pid!), false);
  await terminate(stubborn.pid!, 300); // already gone: quiet
});

test("tailOfFile gives the last lines, and nothing for a missing file", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-tail-test-"));
  try {
    const file = join(dir, "error.log");
    writeFileSync(file, Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n"));
    assert.equal(tailOfFile(file, 3), "line 97\nline 98\nline 99");
    assert.equal(tailOfFile(join(dir, "missing.log")), "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
