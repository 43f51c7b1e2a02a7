/**
 * Throwaway memcached servers: a free loopback port, TCP only, with the same orphan protection as the
 * MariaDB sandboxes.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SluiceError } from "../core/errors.ts";
import { findExecutable, freeLoopbackPort, isAlive, tailOfFile, terminate } from "./process.ts";
import { forgetServerAtExit, killServerAtExit, type Watchdog, watchOverServer } from "./watchdog.ts";

export interface MemcachedSandboxOptions {
  /** Item memory, in MiB. Default 64. */
  memoryMb?: number;
  /** Leave the server running when this process ends (the CLI's `sandbox start --kind memcached`). */
  detached?: boolean;
}

export interface MemcachedSandbox {
  readonly port: number;
  readonly host: "127.0.0.1";
  readonly pid: number;
  /** memcached://127.0.0.1:PORT */
  readonly url: string;
  /** Holds the server's log; removed on stop. */
  readonly dir: string;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** What a memcached's command line contains, to tell it from another process that reused its pid. */
export function memcachedMarker(port: number): string {
  return `-p ${port} -U 0`;
}

export async function startMemcached(opts: MemcachedSandboxOptions = {}): Promise<MemcachedSandbox> {
  const memcached = findExecutable(["memcached"], {
    name: "memcached",
    install: "apt-get install -y memcached",
    envOverride: "SLUICE_MEMCACHED",
  });
  const memoryMb = opts.memoryMb ?? 64;
  const dir = mkdtempSync(join(tmpdir(), "sluice-memcached-"));
  const logFile = join(dir, "memcached.log");
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const log = openSync(logFile, "w");
      const child = spawn(
        memcached,
        ["-u", "root", "-l", "127.0.0.1", "-p", String(port), "-U", "0", "-m", String(memoryMb)],
        { stdio: ["ignore", log, log], detached: true },
      );
      closeSync(log);
      child.on("error", () => {});
      child.unref();
      const pid = child.pid;
      if (pid === undefined) {
        throw new SluiceError("SANDBOX_START_FAILED", `cannot run ${memcached}`, {
          hint: "apt-get install -y memcached",
        });
      }
      let watchdog: Watchdog | undefined;
      if (!opts.detached) {
        watchdog = watchOverServer(pid, memcachedMarker(port), dir);
        killServerAtExit(pid);
      }
      const ready = await waitForMemcached(port, pid, 10_000);
      if (ready) return memcachedHandle(port, pid, dir, watchdog);
      watchdog?.standDown();
      forgetServerAtExit(pid);
      await terminate(pid, 0);
      const tail = tailOfFile(logFile);
      if (/in use/i.test(tail) && attempt < 5) continue;
      throw new SluiceError("SANDBOX_START_FAILED", "memcached did not start", {
        context: { port, log: logFile },
        hint: `its output:\n${tail}`,
      });
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function memcachedHandle(
  port: number,
  pid: number,
  dir: string,
  watchdog: Watchdog | undefined,
): MemcachedSandbox {
  let stopping: Promise<void> | undefined;
  return {
    port,
    host: "127.0.0.1",
    pid,
    url: `memcached://127.0.0.1:${port}`,
    dir,
    stop() {
      stopping ??= (async () => {
        // Nothing to flush, and SIGTERM makes memcached linger for a second.
        await terminate(pid, 0);
        forgetServerAtExit(pid);
        rmSync(dir, { recursive: true, force: true });
        watchdog?.standDown();
      })();
      return stopping;
    },
  };
}

async function waitForMemcached(port: number, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return false;
    if (await answersVersion(port)) return true;
    await sleep(20);
  }
  return false;
}

/** True when a memcached on `port` answers the text protocol's `version` command. */
export function answersVersion(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1_000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("version\r\n"));
    sock.on("data", (d) => {
      reply += d.toString("latin1");
      if (reply.includes("\r\n")) done(reply.startsWith("VERSION "));
    });
  });
}
