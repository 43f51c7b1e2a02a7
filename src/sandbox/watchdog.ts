/**
 * Orphan protection. Node has no PDEATHSIG, so each sandboxed server gets a tiny watchdog: a `sh`
 * process in its own session whose stdin is a pipe from us. The kernel closes that pipe whenever we
 * die (normal exit, crash, SIGKILL), the watchdog's `read` then sees end-of-file, and it kills the
 * server and removes its files. Releasing the guard writes one line first, which tells the watchdog
 * to stand down. Blocking on a pipe costs nothing, where polling the parent's pid would (and would be
 * fooled by pid reuse).
 */
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";

// $1 server pid, $2 a string the server's command line contains (guards against the pid having been
// reused), then the paths to remove. A zombie counts as gone: nothing may reap an orphan quickly.
const WATCHDOG_SCRIPT = `
if read -r _; then exit 0; fi
pid=$1; marker=$2; shift 2
if tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"; then kill -9 "$pid" 2>/dev/null; fi
i=0
while [ $i -lt 200 ] && [ -e "/proc/$pid" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$pid/stat" 2>/dev/null; do
  sleep 0.05; i=$((i+1))
done
if [ $# -gt 0 ]; then rm -rf -- "$@"; fi
`;

export interface ServerGuard {
  /** The owner takes over (it stopped the server, or the server is meant to outlive it). Idempotent. */
  release(): void;
}

/**
 * Kills `pid` when this process ends, however it ends, and then removes `removePaths`.
 * `commandLineMarker` is a string of the server's command line, checked before the kill.
 */
export function guardServer(
  pid: number,
  commandLineMarker: string,
  removePaths: readonly string[],
): ServerGuard {
  const child = spawn(
    "/bin/sh",
    ["-c", WATCHDOG_SCRIPT, "sluice-sandbox-watchdog", String(pid), commandLineMarker, ...removePaths],
    { stdio: ["pipe", "ignore", "ignore"], detached: true },
  );
  child.unref();
  const stdin = child.stdin as Writable & { unref?: () => void };
  // The pipe must not keep our event loop alive; only our death (or release) ends it.
  stdin.unref?.();
  stdin.on("error", () => {});
  killAtExit.add(pid);
  installExitHook();
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      killAtExit.delete(pid);
      stdin.end("stand down\n");
    },
  };
}

// Servers to kill synchronously when this process exits normally; their watchdogs then remove the
// files. Faster than the watchdogs alone, which still cover the deaths no handler sees.
const killAtExit = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const p of killAtExit) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}
