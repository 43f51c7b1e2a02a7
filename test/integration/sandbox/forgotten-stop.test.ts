import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { isAlive } from "../../../src/sandbox/process.ts";
import { WAIT_LIMIT_MS, waitFor } from "../wait.ts";

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
  const code = await Promise.race([exited, sleep(WAIT_LIMIT_MS, "still running")]);
  if (code === "still running") child.kill("SIGKILL");
  assert.equal(code, 0, "the idle pool kept the process alive");
  const { mariadbPid, datadir } = JSON.parse(out) as { mariadbPid: number; datadir: string };
  await waitFor(
    "the server gone and its datadir removed",
    () => !isAlive(mariadbPid) && !existsSync(datadir),
  );
});
