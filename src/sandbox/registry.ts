/**
 * Sandboxes started by `sluice sandbox start` outlive the command, so they are recorded as one JSON
 * file each in a registry directory ($SLUICE_SANDBOX_DIR, default /tmp/sluice-sandboxes). Stop,
 * status and list read the records; a record whose process is gone shows as not running.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { messageOf, SluiceError } from "../core/errors.ts";
import { type MariadbSandboxOptions, startMariadb } from "./mariadb.ts";
import { memcachedMarker, startMemcached } from "./memcached.ts";
import { assertSandboxName } from "./names.ts";
import { commandLineOf, isAlive, terminate } from "./process.ts";

export type SandboxKind = "mariadb" | "memcached";

export interface SandboxRecord {
  kind: SandboxKind;
  name: string;
  pid: number;
  host: "127.0.0.1";
  port: number;
  url: string;
  /** MariaDB only; holds the replication user's password, so the record file is private (0600). */
  replicationUrl?: string;
  serverId?: number;
  datadir?: string;
  socket?: string;
  binlogDir?: string;
  errorLogFile?: string;
  generalLogFile?: string;
  /** What stop removes; absent when the sandbox was started with keep. */
  removeOnStop?: string;
  startedAt: string;
}

export interface SandboxListing extends SandboxRecord {
  running: boolean;
}

export function sandboxRegistryDir(): string {
  return process.env.SLUICE_SANDBOX_DIR || "/tmp/sluice-sandboxes";
}

function recordPath(name: string): string {
  return join(sandboxRegistryDir(), `${name}.json`);
}

function writeRecord(rec: SandboxRecord): void {
  const dir = sandboxRegistryDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${rec.name}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, recordPath(rec.name));
}

export function readRecord(name: string): SandboxRecord {
  assertSandboxName(name);
  let text: string;
  try {
    text = readFileSync(recordPath(name), "utf8");
  } catch {
    throw new SluiceError("SANDBOX_UNKNOWN", `no sandbox named '${name}'`, {
      context: { registry: sandboxRegistryDir() },
      hint: "see `sluice sandbox list` for the sandboxes started from the CLI",
    });
  }
  try {
    return JSON.parse(text) as SandboxRecord;
  } catch (e) {
    throw new SluiceError(
      "SANDBOX_RECORD_CORRUPT",
      `the record of sandbox '${name}' is not JSON: ${messageOf(e)}`,
      {
        context: { file: recordPath(name) },
        hint: "remove the file and stop the server by hand if it still runs",
      },
    );
  }
}

/** True when the record's process is still the server it describes (not a reused pid). */
export function isRecordRunning(rec: SandboxRecord): boolean {
  if (!isAlive(rec.pid)) return false;
  const cmd = commandLineOf(rec.pid);
  if (cmd === undefined) return false;
  const marker = rec.kind === "mariadb" ? `--datadir=${rec.datadir} ` : memcachedMarker(rec.port);
  return cmd.includes(marker);
}

export function listSandboxes(): SandboxListing[] {
  let names: string[];
  try {
    names = readdirSync(sandboxRegistryDir()).filter((f) => f.endsWith(".json") && !f.startsWith("."));
  } catch {
    return [];
  }
  const out: SandboxListing[] = [];
  for (const f of names.sort()) {
    try {
      const rec = readRecord(f.slice(0, -".json".length));
      out.push({ ...rec, running: isRecordRunning(rec) });
    } catch {
      // A record removed while we listed, or a corrupt one: `status NAME` explains the latter.
    }
  }
  return out;
}

function assertNameFree(name: string): void {
  try {
    const rec = readRecord(name);
    if (isRecordRunning(rec)) {
      throw new SluiceError("SANDBOX_NAME_TAKEN", `a sandbox named '${name}' is running`, {
        context: { port: rec.port, pid: rec.pid },
        hint: `stop it first (sluice sandbox stop ${name}) or choose another --name`,
      });
    }
  } catch (e) {
    if (e instanceof SluiceError && e.code === "SANDBOX_UNKNOWN") return;
    throw e;
  }
}

/** Starts a MariaDB sandbox that outlives this process, and records it. */
export async function startRegisteredMariadb(
  opts: Omit<MariadbSandboxOptions, "detached">,
): Promise<SandboxRecord> {
  if (opts.name) assertNameFree(opts.name);
  const s = await startMariadb({ ...opts, detached: true });
  await s.disconnect();
  const rec: SandboxRecord = {
    kind: "mariadb",
    name: s.name,
    pid: s.pid,
    host: s.host,
    port: s.port,
    url: s.url,
    replicationUrl: s.replicationUrl,
    serverId: s.serverId,
    datadir: s.datadir,
    socket: s.socket,
    binlogDir: s.binlogDir,
    errorLogFile: s.errorLogFile,
    ...(s.generalLogFile ? { generalLogFile: s.generalLogFile } : {}),
    ...(s.removeOnStop ? { removeOnStop: s.removeOnStop } : {}),
    startedAt: new Date().toISOString(),
  };
  await recordOrStop(rec, () => s.stop());
  return rec;
}

/** Records a detached sandbox; one that cannot be recorded could never be stopped by name, so it stops. */
async function recordOrStop(rec: SandboxRecord, stop: () => Promise<void>): Promise<void> {
  try {
    writeRecord(rec);
  } catch (e) {
    await stop();
    throw new SluiceError(
      "SANDBOX_REGISTRY_UNWRITABLE",
      `cannot record sandbox '${rec.name}': ${messageOf(e)}`,
      {
        context: { registry: sandboxRegistryDir() },
        hint: "make the directory writable, or point SLUICE_SANDBOX_DIR elsewhere",
      },
    );
  }
}

/** Starts a memcached sandbox that outlives this process, and records it. */
export async function startRegisteredMemcached(opts: {
  name?: string;
  memoryMb?: number;
}): Promise<SandboxRecord> {
  if (opts.name) {
    assertSandboxName(opts.name);
    assertNameFree(opts.name);
  }
  const m = await startMemcached({ detached: true, ...(opts.memoryMb ? { memoryMb: opts.memoryMb } : {}) });
  const rec: SandboxRecord = {
    kind: "memcached",
    name: opts.name ?? `memcached-${m.port}`,
    pid: m.pid,
    host: m.host,
    port: m.port,
    url: m.url,
    removeOnStop: m.dir,
    startedAt: new Date().toISOString(),
  };
  await recordOrStop(rec, () => m.stop());
  return rec;
}

/** Stops a recorded sandbox (if it still runs), removes its files (unless kept) and its record. */
export async function stopRegisteredSandbox(
  name: string,
): Promise<{ record: SandboxRecord; wasRunning: boolean }> {
  const record = readRecord(name);
  const wasRunning = isRecordRunning(record);
  if (wasRunning) await terminate(record.pid, record.kind === "memcached" ? 0 : 20_000);
  if (record.removeOnStop) rmSync(record.removeOnStop, { recursive: true, force: true });
  if (record.socket && record.datadir && !record.socket.startsWith(record.datadir)) {
    rmSync(record.socket, { force: true });
  }
  rmSync(recordPath(name), { force: true });
  return { record, wasRunning };
}

export interface SandboxStatus {
  name: string;
  kind: SandboxKind;
  running: boolean;
  pid: number;
  port: number;
  url: string;
  version?: string;
  serverId?: number;
  binlogFile?: string;
  binlogPosition?: number;
  gtidBinlogPos?: string;
}

/** A recorded sandbox's state; for MariaDB also its binlog position and GTID position. */
export async function registeredSandboxStatus(name: string): Promise<SandboxStatus> {
  const rec = readRecord(name);
  const status: SandboxStatus = {
    name: rec.name,
    kind: rec.kind,
    running: isRecordRunning(rec),
    pid: rec.pid,
    port: rec.port,
    url: rec.url,
  };
  if (!status.running || rec.kind !== "mariadb") return status;
  const conn = await mysql
    .createConnection({ host: rec.host, port: rec.port, user: "root", connectTimeout: 5_000 })
    .catch((e: unknown) => {
      throw new SluiceError(
        "SANDBOX_UNREACHABLE",
        `sandbox '${name}' runs but does not accept connections: ${messageOf(e)}`,
        {
          context: { port: rec.port, errorLog: rec.errorLogFile },
          hint: `see its error log ${rec.errorLogFile ?? ""}`,
        },
      );
    });
  try {
    const [master] = await conn.query("SHOW MASTER STATUS");
    const [vars] = await conn.query(
      "SELECT @@version AS version, @@server_id AS serverId, @@gtid_binlog_pos AS gtid",
    );
    const m = (master as { File?: string; Position?: number }[])[0];
    const v = (vars as { version: string; serverId: number; gtid: string }[])[0];
    if (m?.File) status.binlogFile = m.File;
    if (m?.Position !== undefined) status.binlogPosition = Number(m.Position);
    if (v) {
      status.version = v.version;
      status.serverId = Number(v.serverId);
      status.gtidBinlogPos = v.gtid;
    }
  } finally {
    await conn.end().catch(() => {});
  }
  return status;
}
