/**
 * Process plumbing shared by the sandboxes: finding binaries, free loopback ports, liveness checks
 * that see through zombies, bounded waits and the tail of a log file for error messages.
 */
import { type ChildProcess, type StdioOptions, spawn, spawnSync } from "node:child_process";
import { accessSync, closeSync, constants, openSync, readFileSync, readSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SluiceError } from "../core/errors.ts";

/**
 * The path of an executable: `envOverride` when set, else the first of `candidates` (absolute paths)
 * or a bare name found on PATH. Throws with the package to install when none is there.
 */
export function findExecutable(
  candidates: readonly string[],
  what: { name: string; install: string; envOverride?: string },
): string {
  const override = what.envOverride ? process.env[what.envOverride] : undefined;
  if (override) {
    if (isExecutable(override)) return override;
    throw new SluiceError("SANDBOX_BINARY_NOT_FOUND", `${what.name} not found at ${override}`, {
      context: { env: what.envOverride },
      hint: `fix ${what.envOverride} or unset it; or ${what.install}`,
    });
  }
  const pathDirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const c of candidates) {
    if (c.includes("/")) {
      if (isExecutable(c)) return c;
      continue;
    }
    for (const dir of [...pathDirs, "/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]) {
      const p = join(dir, c);
      if (isExecutable(p)) return p;
    }
  }
  throw new SluiceError("SANDBOX_BINARY_NOT_FOUND", `${what.name} not found`, {
    context: { looked: candidates.join(",") },
    hint: what.install,
  });
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Runs a binary with arguments and returns its stdout (trimmed); throws with stderr on failure. */
export function runCapture(file: string, args: readonly string[]): string {
  const r = spawnSync(file, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const detail = (r.stderr || r.error?.message || "").trim().slice(-2000);
    throw new SluiceError(
      "SANDBOX_COMMAND_FAILED",
      `${file} ${args.join(" ")} failed${detail ? `: ${detail}` : ""}`,
      {
        context: { status: r.status ?? undefined },
        cause: r.error,
      },
    );
  }
  return r.stdout.trim();
}

/** A port that was free on 127.0.0.1 a moment ago (the server start retries if it is taken since). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * True while `pid` is a running process. A zombie (dead, not yet reaped: the case for a server whose
 * parent was killed when nothing reaps orphans) counts as dead.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 3, after the parenthesised command name (which may itself contain spaces or parens).
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The command line of `pid`, or undefined when it is gone; used to check a pid still is our server. */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return undefined;
  }
}

/** Waits until `pid` is gone; returns false when it is still alive after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= until) return false;
    await sleep(25);
  }
  return true;
}

/**
 * Stops `pid`: SIGTERM, then SIGKILL when it has not exited after `graceMs` (0: SIGKILL at once).
 * Quiet if already gone.
 */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  if (graceMs > 0) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return;
    }
    if (await waitForExit(pid, graceMs)) return;
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitForExit(pid, 10_000);
}

/** The last `lines` lines of a text file (reads at most its last 64 KiB); "" when it cannot be read. */
export function tailOfFile(path: string, lines = 25): string {
  try {
    const fd = openSync(path, "r");
    try {
      const size = statSync(path).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString("utf8").split("\n").filter(Boolean).slice(-lines).join("\n");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

/**
 * Spawns a server in its own session (so signals to our process group do not reach it, and it can
 * outlive us when asked to) and waits until it runs. Throws with `installHint` when it cannot run.
 */
export async function spawnServer(
  file: string,
  args: readonly string[],
  stdio: StdioOptions,
  installHint: string,
): Promise<{ child: ChildProcess; pid: number }> {
  const child = spawn(file, args, { stdio, detached: true });
  const failed = await new Promise<Error | undefined>((resolve) => {
    child.once("spawn", () => resolve(undefined));
    child.once("error", resolve);
  });
  if (failed || child.pid === undefined) {
    throw new SluiceError("SANDBOX_START_FAILED", `cannot run ${file}: ${failed?.message ?? "no pid"}`, {
      hint: installHint,
    });
  }
  child.unref();
  return { child, pid: child.pid };
}
