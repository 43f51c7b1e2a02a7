import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isAlive } from "../../../src/sandbox/process.ts";
import { waitFor } from "../wait.ts";

const holder = fileURLToPath(new URL("./hold-sandboxes.ts", import.meta.url));

interface Held {
  mariadbPid: number;
  datadir: string;
  memcachedPid: number;
  memcachedDir: string;
}

async function startHolder(): Promise<{ pid: number; held: Held; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, ["--import", "tsx", holder], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`holder exited (${code}) before starting its sandboxes`)));
  });
  return { pid: child.pid!, held: JSON.parse(first) as Held, exited };
}

for (const signal of ["SIGKILL", "SIGTERM"] as const) {
  test(`${signal} to the process that started sandboxes leaves no server and no datadir behind`, async () => {
    const { pid, held, exited } = await startHolder();
    assert.ok(isAlive(held.mariadbPid), "the sandboxed mariadbd runs while its owner lives");
    assert.ok(isAlive(held.memcachedPid), "the sandboxed memcached runs while its owner lives");
    assert.ok(existsSync(held.datadir));
    process.kill(pid, signal);
    await exited;
    const pids = [held.mariadbPid, held.memcachedPid];
    const paths = [held.datadir, held.memcachedDir];
    await waitFor(
      `servers ${pids.join("/")} gone and ${paths.join(", ")} removed`,
      () => pids.every((p) => !isAlive(p)) && paths.every((p) => !existsSync(p)),
    );
  });
}
