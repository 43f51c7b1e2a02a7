/**
 * Throwaway memcached servers: a free loopback port, TCP only, with the same orphan protection as the
 * MariaDB sandboxes.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SluiceError } from "../core/errors.ts";
import { findExecutable, freeLoopbackPort, isAlive, spawnServer, tailOfFile, terminate } from "./process.ts";
import { guardServer, type ServerGuard } from "./watchdog.ts";

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
      let pid: number;
      try {
        ({ pid } = await spawnServer(
          memcached,
          ["-u", "root", "-l", "127.0.0.1", "-p", String(port), "-U", "0", "-m", String(memoryMb)],
          ["ignore", log, log],
          "apt-get install -y memcached",
        ));
      } finally {
        closeSync(log);
      }
      const guard = guardServer(pid, memcachedMarker(port), [dir]);
      if (await waitForMemcached(port, pid, 10_000)) {
        if (opts.detached) guard.release();
        return memcachedHandle(port, pid, dir, guard);
      }
      await terminate(pid, 0);
      guard.release();
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

function memcachedHandle(port: number, pid: number, dir: string, guard: ServerGuard): MemcachedSandbox {
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
        rmSync(dir, { recursive: true, force: true });
        guard.release();
      })();
      return stopping;
    },
  };
}

async function waitForMemcached(port: number, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return false;
    // Another memcached may have taken the port first: ready means ours answers.
    if ((await memcachedPid(port)) === pid) return true;
    await sleep(20);
  }
  return false;
}

/** The pid a memcached on `port` reports in `stats`, or undefined when nothing answers so. */
export function memcachedPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    let reply = "";
    const done = (pid: number | undefined) => {
      sock.destroy();
      resolve(pid);
    };
    sock.setTimeout(1_000, () => done(undefined));
    sock.on("error", () => done(undefined));
    sock.on("connect", () => sock.write("stats\r\n"));
    sock.on("data", (d) => {
      reply += d.toString("latin1");
      if (reply.endsWith("END\r\n") || reply.startsWith("ERROR")) {
        const m = /^STAT pid (\d+)\r$/m.exec(reply);
        done(m ? Number(m[1]) : undefined);
      }
    });
  });
}
