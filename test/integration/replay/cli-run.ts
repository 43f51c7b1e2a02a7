import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { StreamLog } from "../../../src/stream/index.ts";
import { waitFor } from "../wait.ts";

/** The repository root, where bin/sluice.js is. */
export const root = fileURLToPath(new URL("../../..", import.meta.url));
/** A pcap of test/fixtures/pcap. */
export const fixture = (name: string) => join(root, "test/fixtures/pcap", name);
const fromSource = { ...process.env, SLUICE_FROM_SOURCE: "1" };

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

/**
 * Starts `sluice ARGS` in its own process, from the sources (tests) or, with `cli`, that compiled
 * entry point (benchmarks: bench/compile-cli.ts); `done` resolves when it has closed.
 */
export function startCli(args: string[], opts: { cli?: string } = {}): Run {
  const env = opts.cli ? process.env : fromSource;
  const child = spawn(process.execPath, [opts.cli ?? "bin/sluice.js", ...args], { cwd: root, env });
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
  await waitFor(
    `group ${group} committing every record of ${stream}`,
    async () => {
      if (run.child.exitCode !== null) throw new Error(`the run ended first: ${run.stderr()}`);
      return (await log.info(stream)).groups.find((g) => g.group === group)?.lag === 0;
    },
    { everyMs: 20, detail: () => `stderr: ${run.stderr()}` },
  );
  run.child.kill("SIGINT");
  return run.done;
}
