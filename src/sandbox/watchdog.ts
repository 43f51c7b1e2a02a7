/**
 * Orphan protection. Node has no PDEATHSIG, so each sandboxed server gets a tiny watchdog: a `sh`
 * process in its own session whose stdin is a pipe from us. The kernel closes that pipe whenever we
 * die (normal exit, crash, SIGKILL), the watchdog's `read` then sees end-of-file, and it kills the
 * server and removes its directory. A clean stop writes one line first, which tells the watchdog to
 * stand down. Blocking on a pipe costs nothing, where polling the parent's pid would (and would be
 * fooled by pid reuse).
 */
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";

// $1 server pid, $2 a string the server's command line contains (its datadir: guards against the
// pid having been reused), $3 the directory to remove ("" = keep it).
const WATCHDOG_SCRIPT = `
if read -r _; then exit 0; fi
if tr '\\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; then kill -9 "$1" 2>/dev/null; fi
i=0
while [ $i -lt 200 ] && [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; do
  sleep 0.05; i=$((i+1))
done
if [ -n "$3" ]; then rm -rf -- "$3"; fi
`;

export interface Watchdog {
  /** Tells the watchdog to exit without touching anything (the owner stopped the server itself). */
  standDown(): void;
}

/** Starts a watchdog that kills `pid` and removes `removeDir` (unless undefined) once we die. */
export function watchOverServer(
  pid: number,
  commandLineMarker: string,
  removeDir: string | undefined,
): Watchdog {
  const child = spawn(
    "/bin/sh",
    ["-c", WATCHDOG_SCRIPT, "sluice-sandbox-watchdog", String(pid), commandLineMarker, removeDir ?? ""],
    {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    },
  );
  child.unref();
  const stdin = child.stdin as Writable & { unref?: () => void };
  // The pipe must not keep our event loop alive; only our death (or standDown) ends it.
  stdin.unref?.();
  stdin.on("error", () => {});
  let done = false;
  return {
    standDown() {
      if (done) return;
      done = true;
      stdin.end("stand down\n");
    },
  };
}

// Servers to kill synchronously when this process exits normally; the watchdog then removes their
// directories. Faster than waiting for the watchdog alone, and it still covers the abnormal deaths.
const killAtExit = new Set<number>();
let exitHookInstalled = false;

export function killServerAtExit(pid: number): void {
  killAtExit.add(pid);
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

export function forgetServerAtExit(pid: number): void {
  killAtExit.delete(pid);
}
