import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { StreamLog } from "../../../src/stream/index.ts";

/** The repository root, where bin/sluice.js is. */
export const root = fileURLToPath(new URL("../../..", import.meta.url));
/** A pcap of test/fixtures/pcap. */
export const fixture = (name: string) => join(root, "test/fixtures/pcap", name);
const env = { ...process.env, SLUICE_FROM_SOURCE: "1" };

export interface Done {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Run {
  child: ChildProcess;
  /** What it wrote to stderr so far. */
  stderr(): string;
  done: Promise<Done>;
}

/** Starts `sluice ARGS` (from the sources) in its own process; `done` resolves when it has closed. */
export function startCli(args: string[]): Run {
  const child = spawn(process.execPath, ["bin/sluice.js", ...args], { cwd: root, env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<Done>((resolve) =>
    child.on("close", (status) => resolve({ status, stdout, stderr })),
  );
  return { child, stderr: () => stderr, done };
}

/**
 * Stops a `replay --follow` run with SIGINT once its group has committed every record of the stream
 * (nothing is left to play); fails when the run ends before.
 */
export async function stopWhenCommitted(
  run: Run,
  log: StreamLog,
  stream: string,
  group: string,
): Promise<Done> {
  for (let i = 0; ; i++) {
    const lag = (await log.info(stream)).groups.find((g) => g.group === group)?.lag;
    if (lag === 0) break;
    if (run.child.exitCode !== null || i > 3000)
      throw new Error(`never committed everything: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  run.child.kill("SIGINT");
  return run.done;
}
