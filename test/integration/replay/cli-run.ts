import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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
