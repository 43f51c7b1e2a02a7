/**
 * Throwaway MariaDB servers for tests, the demo and `sluice sandbox`: a copy of a cached template
 * datadir, a free loopback port, binlog on (ROW, FULL metadata by default), root without password on
 * 127.0.0.1 and a replication user. Ready in about a second; killed and removed when their owner
 * dies, unless started `detached` (the CLI's `sandbox start`, which is meant to outlive the CLI).
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import mysql from "mysql2/promise";
import { SluiceError } from "../core/errors.ts";
import {
  ensureTemplate,
  mariadbBinaries,
  TEMPLATE_SERVER_FLAGS,
  templateDatadir,
} from "./mariadb-template.ts";
import { assertSandboxName } from "./names.ts";
import { freeLoopbackPort, isAlive, spawnServer, tailOfFile, terminate } from "./process.ts";
import { createSandboxPool } from "./sandbox-pool.ts";
import { guardServer, type ServerGuard } from "./watchdog.ts";

export interface MariadbSandboxOptions {
  /** Default: generated, unique. Names the datadir (`<baseDir>/<name>`). */
  name?: string;
  /** Parent of the datadir; default a fresh directory under os.tmpdir(), removed on stop. */
  baseDir?: string;
  /** A fixed port on 127.0.0.1; default a free one (and another if it is taken before the server binds it). */
  port?: number;
  /** Default: the port, unique among the servers running on this machine. */
  serverId?: number;
  /** Default 0. */
  gtidDomainId?: number;
  /** Default FULL. */
  binlogRowMetadata?: "FULL" | "MINIMAL";
  /** Default FULL. */
  binlogRowImage?: "FULL" | "MINIMAL" | "NOBLOB";
  /** Default ROW. */
  binlogFormat?: "ROW" | "STATEMENT" | "MIXED";
  /** General query log on, to the file `generalLogFile` (the replay tests' witness). */
  generalLog?: boolean;
  /** More mariadbd flags; they come last, so they override the sandbox's own. */
  extraArgs?: string[];
  /** Do not delete the datadir on stop (nor when the owner dies). */
  keep?: boolean;
  /**
   * Leave the server running when this process ends (once it is ready: a start cut short still
   * cleans up). For the CLI's `sandbox start`; whoever starts it so must stop it.
   */
  detached?: boolean;
  /** How long to wait for the first successful connection. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface MariadbSandbox {
  readonly name: string;
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly socket: string;
  readonly serverId: number;
  readonly datadir: string;
  /** The server's process id; a restart changes it. */
  readonly pid: number;
  /** mysql://root@127.0.0.1:PORT (root, no password, loopback only) */
  readonly url: string;
  /** mysql://repl:PASSWORD@127.0.0.1:PORT: REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT */
  readonly replicationUrl: string;
  /** Where the binlog files are (basename `mariadb-bin`). */
  readonly binlogDir: string;
  readonly binlogBasename: string;
  readonly errorLogFile: string;
  readonly generalLogFile: string | undefined;
  /** The directory stop() removes: the datadir, or the fresh base directory made for it; undefined with `keep`. */
  readonly removeOnStop: string | undefined;
  /** Text-protocol query through a pooled root connection. Non-SELECT statements give `[ResultSetHeader]`. */
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Closes the pooled connections and leaves the server running (for detached servers). */
  disconnect(): Promise<void>;
  /**
   * Stops the server (clean shutdown, or SIGKILL with `crash`) and starts it again on the same port
   * and datadir; `pid` changes, everything else stays. For tests of what survives a server restart.
   */
  restart(how?: { crash?: boolean }): Promise<void>;
  /** Clean shutdown, then removes the datadir unless `keep`. Idempotent. */
  stop(): Promise<void>;
}

export const BINLOG_BASENAME = "mariadb-bin";
export const REPLICATION_USER = "repl";

let sandboxCounter = 0;

function generatedName(): string {
  sandboxCounter += 1;
  return `mdb-${process.pid.toString(36)}-${sandboxCounter}-${randomBytes(3).toString("hex")}`;
}

/** Unix socket paths are limited to 108 bytes; a deep datadir gets its socket in the temp dir instead. */
function socketPathFor(datadir: string, name: string): string {
  const inside = join(datadir, "mysqld.sock");
  return Buffer.byteLength(inside) <= 100 ? inside : join(tmpdir(), `sluice-${name}.sock`);
}

export async function startMariadb(opts: MariadbSandboxOptions = {}): Promise<MariadbSandbox> {
  const bin = mariadbBinaries();
  const template = templateDatadir(ensureTemplate(bin));
  const name = opts.name ?? generatedName();
  assertSandboxName(name);
  const ownBaseDir = opts.baseDir === undefined;
  const baseDir = opts.baseDir ?? mkdtempSync(join(tmpdir(), "sluice-sandbox-"));
  const datadir = join(baseDir, name);
  const keep = opts.keep ?? false;
  // A kept datadir is started again as it is; otherwise a fresh copy of the template.
  if (!existsSync(join(datadir, "mysql"))) {
    mkdirSync(baseDir, { recursive: true });
    cpSync(template, datadir, { recursive: true });
  }
  const socket = socketPathFor(datadir, name);
  // Its own tmpdir: a mariadbd starting removes the #sql files it finds in its tmpdir, so servers
  // sharing /tmp lose each other's temporary tables (seen as EE_DELETE errors on internal temp tables).
  const ownTmpdir = `${datadir}.tmp`;
  mkdirSync(ownTmpdir, { recursive: true });
  const errorLogFile = join(datadir, "error.log");
  const generalLogFile = opts.generalLog ? join(datadir, "general.log") : undefined;
  const removeOnStop = keep ? undefined : ownBaseDir ? baseDir : datadir;

  const cleanupFiles = () => {
    if (removeOnStop) rmSync(removeOnStop, { recursive: true, force: true });
    if (!keep) rmSync(ownTmpdir, { recursive: true, force: true });
    if (!socket.startsWith(datadir)) rmSync(socket, { force: true });
  };

  let started: Awaited<ReturnType<typeof spawnUntilReady>>;
  try {
    started = await spawnUntilReady(opts, bin.mariadbd, {
      datadir,
      tmpdir: ownTmpdir,
      socket,
      errorLogFile,
      generalLogFile,
      removeOnStop,
    });
  } catch (e) {
    cleanupFiles();
    throw e;
  }
  const { port, serverId } = started;
  // What a restart replaces: the process, its guard and the pool that talked to it.
  let { pid, guard } = started;
  const url = `mysql://root@127.0.0.1:${port}`;
  let pool = createSandboxPool(port);
  const replPassword = randomBytes(12).toString("hex");
  try {
    await createReplicationUser(port, replPassword);
  } catch (e) {
    await pool.end().catch(() => {});
    await terminate(pid, 10_000);
    guard.release();
    cleanupFiles();
    throw new SluiceError("SANDBOX_SETUP_FAILED", `could not create the replication user on ${url}`, {
      context: { datadir },
      cause: e,
    });
  }

  // A detached server is the caller's from here on.
  if (opts.detached) guard.release();
  let poolOpen = true;
  const closePool = async () => {
    if (!poolOpen) return;
    poolOpen = false;
    await pool.end().catch(() => {});
  };
  let stopping: Promise<void> | undefined;
  let restarting: Promise<void> | undefined;
  return {
    name,
    host: "127.0.0.1",
    port,
    socket,
    serverId,
    datadir,
    get pid() {
      return pid;
    },
    url,
    replicationUrl: `mysql://${REPLICATION_USER}:${replPassword}@127.0.0.1:${port}`,
    binlogDir: datadir,
    binlogBasename: BINLOG_BASENAME,
    errorLogFile,
    generalLogFile,
    removeOnStop,
    async query<T = unknown>(sql: string, params?: unknown[]): Promise<T[]> {
      if (!poolOpen) {
        throw new SluiceError("SANDBOX_CLOSED", `sandbox ${name} is stopped or disconnected`, {
          context: { port },
        });
      }
      return pool.query<T>(sql, params);
    },
    disconnect: closePool,
    restart(how: { crash?: boolean } = {}) {
      if (stopping) return Promise.reject(new SluiceError("SANDBOX_CLOSED", `sandbox ${name} is stopped`));
      restarting ??= (async () => {
        const old = pool;
        await old.end().catch(() => {});
        // A crash is SIGKILL: InnoDB recovers at the next start, and the binlog ends where it was cut.
        await terminate(pid, how.crash ? 0 : 20_000);
        guard.release();
        const again = await spawnUntilReady({ ...opts, port, serverId }, bin.mariadbd, {
          datadir,
          tmpdir: ownTmpdir,
          socket,
          errorLogFile,
          generalLogFile,
          removeOnStop,
        });
        ({ pid, guard } = again);
        if (opts.detached) guard.release();
        pool = createSandboxPool(port);
      })().finally(() => {
        restarting = undefined;
      });
      return restarting;
    },
    stop() {
      stopping ??= (async () => {
        await restarting?.catch(() => {});
        await closePool();
        // SIGTERM is mariadbd's normal shutdown; a throwaway server gets 20 s before SIGKILL.
        await terminate(pid, 20_000);
        cleanupFiles();
        guard.release();
      })();
      return stopping;
    },
  };
}

export interface ServerFiles {
  datadir: string;
  /** The server's own tmpdir (next to the datadir), not shared with other servers. */
  tmpdir: string;
  socket: string;
  errorLogFile: string;
  generalLogFile: string | undefined;
  removeOnStop: string | undefined;
}

/** mariadbd's command line for a sandbox (exported for the unit tests). */
export function mariadbdArgs(
  opts: MariadbSandboxOptions,
  files: ServerFiles,
  port: number,
  serverId: number,
): string[] {
  const { datadir } = files;
  const args = [
    // Must come first: the machine's my.cnf files never leak into a sandbox.
    "--no-defaults",
    "--user=root",
    `--datadir=${datadir}`,
    `--tmpdir=${files.tmpdir}`,
    `--socket=${files.socket}`,
    `--pid-file=${join(datadir, "mysqld.pid")}`,
    `--log-error=${files.errorLogFile}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    `--server-id=${serverId}`,
    `--gtid-domain-id=${opts.gtidDomainId ?? 0}`,
    `--log-bin=${join(datadir, BINLOG_BASENAME)}`,
    `--log-bin-index=${join(datadir, `${BINLOG_BASENAME}.index`)}`,
    `--relay-log=${join(datadir, "relay-bin")}`,
    `--binlog-format=${opts.binlogFormat ?? "ROW"}`,
    `--binlog-row-metadata=${opts.binlogRowMetadata ?? "FULL"}`,
    `--binlog-row-image=${opts.binlogRowImage ?? "FULL"}`,
    "--log-slave-updates=ON",
    // Debian's packaged defaults, which --no-defaults would otherwise drop back to latin1.
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--performance-schema=OFF",
    "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
    // Durable against a killed server process (what the tests do), not against a power cut: the
    // sandbox trades that for speed.
    "--innodb-flush-log-at-trx-commit=2",
    "--sync-binlog=0",
    "--innodb-doublewrite=0",
    // Native AIO contexts are a machine-wide limit that many parallel servers can exhaust.
    "--innodb-use-native-aio=0",
    ...TEMPLATE_SERVER_FLAGS,
  ];
  if (files.generalLogFile) {
    args.push("--general-log=ON", `--general-log-file=${files.generalLogFile}`, "--log-output=FILE");
  }
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/**
 * Starts mariadbd on a free port and waits for a connection to succeed. The port is free when picked
 * but may be taken before the server binds it: then the server exits with EADDRINUSE in its error
 * log, and we try another port.
 */
async function spawnUntilReady(
  opts: MariadbSandboxOptions,
  mariadbd: string,
  files: ServerFiles,
): Promise<{ pid: number; port: number; serverId: number; guard: ServerGuard }> {
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const maxAttempts = 5;
  const removePaths = [
    ...(files.removeOnStop ? [files.removeOnStop, files.tmpdir] : []),
    ...(files.socket.startsWith(files.datadir) ? [] : [files.socket]),
  ];
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freeLoopbackPort());
    const serverId = opts.serverId ?? port;
    const logSizeBefore = fileSize(files.errorLogFile);
    const { child, pid } = await spawnServer(
      mariadbd,
      mariadbdArgs(opts, files, port, serverId),
      "ignore",
      "apt-get install mariadb-server",
    );
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.on("exit", (code, signal) => {
      exited = { code, signal };
    });
    // Guarded from the first moment: a start cut short (even by SIGKILL) leaves nothing behind.
    const guard = guardServer(pid, `--datadir=${files.datadir} `, removePaths);
    const giveUp = (message: string, hint: string): never => {
      throw new SluiceError("SANDBOX_START_FAILED", message, {
        context: { datadir: files.datadir, port, errorLog: files.errorLogFile },
        hint: `${hint}\n--- tail of ${files.errorLogFile} ---\n${tailOfFile(files.errorLogFile)}`,
      });
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited || !isAlive(pid)) {
        guard.release();
        const newLog = readFrom(files.errorLogFile, logSizeBefore);
        const portTaken = /Address already in use/i.test(newLog) && /TCP\/IP/i.test(newLog);
        if (portTaken && opts.port === undefined && attempt < maxAttempts) break;
        if (portTaken)
          giveUp(`port ${port} on 127.0.0.1 is in use`, "choose another port, or let the sandbox pick one");
        giveUp(
          `mariadbd exited during start (${exited?.signal ?? `code ${exited?.code ?? "?"}`})`,
          "read the error log below; a bad extraArgs flag is the usual cause",
        );
      }
      if (await canConnect(files.socket)) return { pid, port, serverId, guard };
      if (Date.now() > deadline) {
        await terminate(pid, 5_000);
        guard.release();
        giveUp(
          `mariadbd did not accept connections within ${timeoutMs} ms`,
          "the machine may be overloaded; see the error log below",
        );
      }
      await sleep(25);
    }
  }
}

/**
 * Readiness goes through the server's own unix socket: the TCP port could be answered by another
 * server that took it first. mariadbd opens its socket only after binding the port, and exits if the
 * bind fails, so an answer on the socket means the port is ours too.
 */
async function canConnect(socketPath: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection({ socketPath, user: "root", connectTimeout: 2_000 });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function createReplicationUser(port: number, password: string): Promise<void> {
  // Its own connection: the session's sql_log_bin=0 must not go back into the pool.
  const conn = await mysql.createConnection({ host: "127.0.0.1", port, user: "root" });
  try {
    // Kept out of the binlog: a sandbox's binlog starts with what its user does, not with our setup.
    await conn.query("SET SESSION sql_log_bin = 0");
    for (const host of ["127.0.0.1", "localhost"]) {
      await conn.query("CREATE OR REPLACE USER ?@? IDENTIFIED BY ?", [REPLICATION_USER, host, password]);
      await conn.query("GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT ON *.* TO ?@?", [
        REPLICATION_USER,
        host,
      ]);
    }
  } finally {
    await conn.end();
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function readFrom(path: string, offset: number): string {
  try {
    return readFileSync(path).subarray(offset).toString("utf8");
  } catch {
    return "";
  }
}
