import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { isAlive } from "../../../src/sandbox/process.ts";

const script = fileURLToPath(new URL("./forgotten-stop.ts", import.meta.url));

test("a process that forgets to stop its sandbox still exits, and the sandbox goes with it", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const code = await Promise.race([exited, sleep(30_000, "still running")]);
  if (code === "still running") child.kill("SIGKILL");
  assert.equal(code, 0, "the idle pool kept the process alive");
  const { mariadbPid, datadir } = JSON.parse(out) as { mariadbPid: number; datadir: string };
  const deadline = Date.now() + 20_000;
  while ((isAlive(mariadbPid) || existsSync(datadir)) && Date.now() < deadline) await sleep(50);
  assert.equal(isAlive(mariadbPid), false);
  assert.equal(existsSync(datadir), false);
});
