import { randomInt, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BinlogEventDecoder, decodeEventHeader, type RowsCodec } from "../../codecs/binlog/decoder.ts";
import { type BinlogEvent, flattenEvents } from "../../codecs/binlog/events.ts";
import { type GtidSet, MariadbGtidPosition } from "../../codecs/binlog/gtid.ts";
import { decodeRowsEvent, decodeTableMapEvent } from "../../codecs/binlog/rows/index.ts";
import { ChecksumAlgorithm, type ChecksumAlgorithmCode } from "../../codecs/binlog/types.ts";
import { decodeErr, isEofPacket, isErrPacket, isOkPacket } from "../../codecs/mysql/ok-err.ts";
import { SluiceError } from "../../core/errors.ts";
import { type MysqlTarget, parseMysqlUrl } from "../../core/url.ts";
import { BinlogDumpFlag, encodeBinlogDump, encodeBinlogDumpGtid, encodeRegisterSlave } from "./commands.ts";
import { type ConnectOptions, MysqlConnection, type TlsOptions } from "./connection.ts";
import { isArtificial, type ResolvedStop, type ResumePoint, StreamCursor } from "./cursor.ts";
import { replicationMetrics } from "./metrics.ts";
import { parseStartSpec, parseStopSpec, type StartSpec, type StopSpec } from "./positions.ts";
import { rowObjects } from "./text-result.ts";
import { sslFromParams } from "./tls-params.ts";

/**
 * `openBinlogStream(url, options)`: connects to a MySQL/MariaDB server as a replica and yields its
 * binlog events, decoded, with their positions and the GTID of their transaction. Reconnects with
 * exponential backoff and resumes without losing or repeating an event (see cursor.ts for the exact
 * guarantee).
 */

export interface ReconnectOptions {
  /** First delay (default 200 ms); doubles per failed attempt, with jitter, up to `maxDelayMs`. */
  initialDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
  /** Give up after this many consecutive failed attempts (default: never). */
  maxAttempts?: number;
}

export interface BinlogStreamOptions {
  /** `now` (default), `earliest`, `FILE:OFFSET`, a MariaDB GTID position or a MySQL GTID set. */
  start?: string | StartSpec;
  /** `head` (the head as it is when the stream starts), `FILE:OFFSET` (exclusive) or a GTID; default: follow forever. */
  stop?: string | StopSpec;
  /** Server id the stream registers with; unique among the server's replicas. Default: random, fixed per stream. */
  serverId?: number;
  /** Ask for a heartbeat every N seconds when the server has nothing to send (default 15; 0 = off). */
  heartbeatSeconds?: number;
  /** TLS (also `?ssl=true` in the URL). */
  ssl?: boolean | TlsOptions;
  signal?: AbortSignal;
  /** Overrides the URL's password (and SLUICE_MYSQL_PASSWORD). */
  password?: string;
  connectTimeoutMs?: number;
  /** Reconnect after a lost connection (default on); `false` to fail instead. */
  reconnect?: ReconnectOptions | false;
  /** Verify CRC32 checksums (default true). */
  verifyChecksum?: boolean;
  /** Row decoding: the binlog row layer by default; `false` passes TABLE_MAP and rows events as bytes. */
  rows?: RowsCodec | false;
  serverPublicKey?: string | Buffer;
  allowPublicKeyRetrieval?: boolean;
  /** Stop reading the socket while this many bytes of events wait for the consumer (default 8 MiB). */
  highWaterMarkBytes?: number;
}

export interface StreamStatus {
  server: string;
  connectionId: number | undefined;
  /** File and offset the consumer has every complete transaction before. */
  position: { file: string; offset: number } | undefined;
  /** MariaDB GTID state after the last complete transaction delivered. */
  gtidState: string | undefined;
  lagSeconds: number | undefined;
  reconnects: number;
  /** Bytes of events received and not yet taken by the consumer (bounded by highWaterMarkBytes). */
  bufferedBytes: number;
}

const DEFAULT_HEARTBEAT_SECONDS = 15;

/** Server errors that mean the connection (not the request) is gone: reconnecting may help. */
const TRANSIENT_ERRNOS = new Set([
  1040, // too many connections
  1053, // server shutdown in progress
  1152, // aborted connection
  1159, // net read timeout
  1161, // net write timeout
  1927, // connection killed
  2013, // lost connection
]);

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\0/g, "\\0")}'`;
}

interface StreamPlan {
  cursor: StreamCursor;
  first: ResumePoint;
  nonBlocking: boolean;
}

export interface BinlogStreamEvents {
  connected: [{ connectionId: number; serverVersion: string; resume: string }];
  reconnecting: [{ attempt: number; delayMs: number; error: SluiceError }];
}

export class BinlogStream extends EventEmitter<BinlogStreamEvents> implements AsyncIterable<BinlogEvent> {
  readonly server: string;
  private readonly target: MysqlTarget;
  private readonly options: BinlogStreamOptions;
  private readonly connectOptions: ConnectOptions;
  readonly serverId: number;
  /** MySQL identifies a replica by UUID too (and drops an older dump with the same one): one per stream. */
  private readonly replicaUuid = randomUUID();
  private readonly heartbeatSeconds: number;
  private conn: MysqlConnection | undefined;
  private cursor: StreamCursor | undefined;
  private closed = false;
  private iterating = false;
  private reconnects = 0;
  private lag: number | undefined;
  private checksum: ChecksumAlgorithmCode = ChecksumAlgorithm.UNDEFINED;
  private isMariadb = false;
  private readonly metrics = replicationMetrics();

  constructor(url: string, options: BinlogStreamOptions = {}) {
    super();
    let target: MysqlTarget;
    let params: URLSearchParams;
    try {
      target = parseMysqlUrl(url);
      params = new URL(url).searchParams;
    } catch (e) {
      throw new SluiceError("USAGE_URL", (e as Error).message, {
        hint: "mysql://user[:password]@host[:port][?ssl=true]",
      });
    }
    if (options.password !== undefined) target.password = options.password;
    this.target = target;
    this.server = `${target.host}:${target.port}`;
    this.options = options;
    this.serverId = options.serverId ?? randomInt(0x40000000, 0x7fffffff);
    this.heartbeatSeconds = options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
    const ssl = options.ssl ?? sslFromParams(params);
    const publicKeyFile = params.get("serverPublicKey");
    this.connectOptions = {
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      ...(ssl === undefined ? {} : { ssl }),
      ...(options.serverPublicKey !== undefined
        ? { serverPublicKey: options.serverPublicKey }
        : publicKeyFile
          ? { serverPublicKey: readFileSync(publicKeyFile) }
          : {}),
      allowPublicKeyRetrieval:
        options.allowPublicKeyRetrieval ?? params.get("allowPublicKeyRetrieval") === "true",
      ...(options.highWaterMarkBytes === undefined ? {} : { highWaterMarkBytes: options.highWaterMarkBytes }),
    };
    options.signal?.addEventListener("abort", () => void this.close(), { once: true });
    if (options.signal?.aborted) this.closed = true;
  }

  get status(): StreamStatus {
    return {
      server: this.server,
      connectionId: this.conn?.connectionId,
      position: this.cursor?.completePosition,
      gtidState: this.cursor?.gtidState,
      lagSeconds: this.lag,
      reconnects: this.reconnects,
      bufferedBytes: this.conn?.bufferedBytes ?? 0,
    };
  }

  /** The id of the server-side session of the current connection (for KILL). */
  get connectionId(): number | undefined {
    return this.conn?.connectionId;
  }

  [Symbol.asyncIterator](): AsyncIterator<BinlogEvent> {
    if (this.iterating)
      throw new SluiceError("BINLOG_STREAM_REUSED", "a binlog stream can be iterated only once", {
        hint: "open another stream (from the position this one reached) to read again",
      });
    this.iterating = true;
    return this.run();
  }

  /** Ends the stream: the iteration finishes after the event being handed out, if any. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    // A connection in COM_BINLOG_DUMP cannot take COM_QUIT: it only streams; end it from our side.
    conn?.destroy();
  }

  private async connect(): Promise<MysqlConnection> {
    const conn = await MysqlConnection.connect(this.target, {
      ...this.connectOptions,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    if (this.closed) {
      conn.destroy();
      throw new SluiceError("ABORTED", "the stream was closed");
    }
    this.conn = conn;
    this.isMariadb = conn.isMariadb;
    return conn;
  }

  private async *run(): AsyncGenerator<BinlogEvent> {
    if (this.closed) return;
    let conn: MysqlConnection | undefined;
    let plan: StreamPlan;
    try {
      conn = await this.connect();
      plan = await this.plan(conn);
    } catch (e) {
      conn?.destroy();
      if (this.closed) return;
      throw e;
    }
    const cursor = plan.cursor;
    this.cursor = cursor;
    if (cursor.finished) {
      await conn.close();
      return;
    }
    let point = plan.first;
    let failures = 0;
    const reconnect = this.options.reconnect === false ? undefined : (this.options.reconnect ?? {});
    let watchdog: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        try {
          if (!conn) {
            conn = await this.connect();
            await this.readChecksum(conn);
            point = await this.exactResumePoint(conn, cursor, point);
          }
          await this.startDump(conn, point, plan.nonBlocking);
          this.emit("connected", {
            connectionId: conn.connectionId,
            serverVersion: conn.handshake.serverVersion,
            resume: describeResume(point),
          });
          watchdog = this.watchHeartbeats(conn, watchdog);
          const decoder = new BinlogEventDecoder({
            flavor: this.isMariadb ? "mariadb" : "mysql",
            checksum: this.checksum,
            verifyChecksum: this.options.verifyChecksum ?? true,
            rows:
              this.options.rows === false
                ? null
                : (this.options.rows ?? { decodeRowsEvent, decodeTableMapEvent }),
          });
          for (;;) {
            const packet = conn.tryNextPacket() ?? (await conn.nextPacket());
            const payload = packet.payload;
            if (payload[0] !== 0x00) {
              if (isEofPacket(payload)) {
                // The end of the binlog in non-blocking mode (a bounded run to the head).
                if (plan.nonBlocking) return;
                throw conn.lost("the server ended the dump");
              }
              if (isErrPacket(payload)) throw this.dumpError(conn, decodeErr(payload));
              throw conn.lost(`unexpected packet 0x${(payload[0] ?? 0).toString(16)} in the binlog stream`);
            }
            const raw = payload.subarray(1);
            const header = decodeEventHeader(raw);
            const ev = decoder.decode(raw, cursor.locate(header));
            this.count(ev, raw.length);
            const verdict = cursor.admit(ev);
            if (verdict === "stop") return;
            if (verdict === "deliver") {
              // The backoff starts over only once a connection has delivered something.
              failures = 0;
              // A compressed transaction (MySQL 8 TRANSACTION_PAYLOAD) is admitted as one unit; its
              // inner events follow it, as they do when the same binlog is read from a file.
              yield* flattenEvents(ev);
            }
            if (cursor.finished || this.closed) return;
          }
        } catch (e) {
          if (this.closed) return;
          const err = e instanceof SluiceError ? e : undefined;
          const transient =
            err !== undefined &&
            (err.code === "MYSQL_CONNECTION_LOST" ||
              err.code === "MYSQL_CONNECT_FAILED" ||
              (err.code === "MYSQL_SERVER_ERROR" && TRANSIENT_ERRNOS.has(Number(err.context.errno))));
          conn?.destroy();
          conn = undefined;
          this.conn = undefined;
          if (!transient || !reconnect) throw e;
          failures += 1;
          if (reconnect.maxAttempts !== undefined && failures > reconnect.maxAttempts) throw e;
          const base = Math.min(
            reconnect.maxDelayMs ?? 30_000,
            (reconnect.initialDelayMs ?? 200) * 2 ** (failures - 1),
          );
          const delayMs = Math.round(base * (0.5 + Math.random() / 2));
          this.emit("reconnecting", { attempt: failures, delayMs, error: err });
          this.reconnects += 1;
          this.metrics.reconnects.inc({ server: this.server });
          try {
            await sleep(delayMs, undefined, this.options.signal ? { signal: this.options.signal } : {});
          } catch {
            return; // aborted
          }
          if (this.closed) return;
          cursor.reconnecting();
          point = cursor.resumePoint();
        }
      }
    } finally {
      if (watchdog) clearInterval(watchdog);
      const c = conn ?? this.conn;
      this.conn = undefined;
      c?.destroy();
    }
  }

  private count(ev: BinlogEvent, bytes: number): void {
    this.metrics.events.inc({ server: this.server, type: ev.type });
    this.metrics.bytes.inc({ server: this.server }, bytes);
    if (ev.type === "heartbeat" || ev.type === "heartbeat_v2") this.lag = 0;
    else if (!isArtificial(ev.header) && ev.header.timestamp > 0)
      this.lag = Math.max(0, Date.now() / 1000 - ev.header.timestamp);
    else return;
    this.metrics.lagSeconds.set({ server: this.server }, this.lag);
  }

  /** Without heartbeats a half-open TCP connection would wait forever: 2 missed beats = lost. */
  private watchHeartbeats(
    conn: MysqlConnection,
    previous: NodeJS.Timeout | undefined,
  ): NodeJS.Timeout | undefined {
    if (previous) clearInterval(previous);
    if (this.heartbeatSeconds <= 0) return undefined;
    const limitMs = this.heartbeatSeconds * 2000 + 5000;
    const t = setInterval(
      () => {
        if (conn.silentForMs > limitMs)
          conn.destroy(
            conn.lost(`nothing received for ${Math.round(limitMs / 1000)} s, not even a heartbeat`),
          );
      },
      Math.min(limitMs, 5000),
    );
    t.unref();
    return t;
  }

  private dumpError(
    conn: MysqlConnection,
    err: { errno: number; sqlState: string | undefined; message: string },
  ) {
    const e = conn.serverError(err, "binlog dump");
    if (err.errno === 1236) {
      return new SluiceError(
        "BINLOG_POSITION_UNAVAILABLE",
        `${conn.where} cannot stream from there: ${err.message}`,
        {
          context: { ...e.context },
          hint: "the binlog holding that position or GTID is gone (purged) or never existed; see SHOW BINARY LOGS, or start from `earliest` or `now`",
        },
      );
    }
    return e;
  }

  private async readChecksum(conn: MysqlConnection): Promise<void> {
    const r = await conn.query("SELECT @@global.binlog_checksum AS c");
    const name = r.rows[0]?.[0]?.toUpperCase() ?? "NONE";
    this.checksum = name === "CRC32" ? ChecksumAlgorithm.CRC32 : ChecksumAlgorithm.OFF;
  }

  private async serverHead(conn: MysqlConnection): Promise<{ file: string; offset: number }> {
    let r: Awaited<ReturnType<MysqlConnection["query"]>>;
    try {
      r = await conn.query("SHOW MASTER STATUS");
    } catch (e) {
      // MySQL 8.4 renamed it.
      if (e instanceof SluiceError && e.context.errno === 1064)
        r = await conn.query("SHOW BINARY LOG STATUS");
      else throw e;
    }
    const row = rowObjects(r)[0];
    if (!row?.File)
      throw new SluiceError("BINLOG_DISABLED", `${conn.where} has no binary log`, {
        context: { server: conn.where },
        hint: "start the server with log_bin (and binlog_format=ROW for row changes)",
      });
    return { file: row.File, offset: Number(row.Position) };
  }

  private async gtidPosAt(conn: MysqlConnection, file: string, offset: number): Promise<MariadbGtidPosition> {
    // The server converts positions to GTIDs (never computed here: see BINLOG_GTID_POS in the docs).
    const r = await conn.query(`SELECT BINLOG_GTID_POS(${sqlString(file)}, ${offset}) AS p`);
    const text = r.rows[0]?.[0];
    if (text === null || text === undefined)
      throw new SluiceError(
        "BINLOG_POSITION_UNAVAILABLE",
        `${file}:${offset} is not a position in the binlog of ${conn.where}`,
        {
          context: { server: conn.where, file, offset },
          hint: "the file does not exist (see SHOW BINARY LOGS) or the offset is not where an event starts (see SHOW BINLOG EVENTS)",
        },
      );
    return MariadbGtidPosition.parse(text);
  }

  /**
   * A GTID resume skips what lies between transactions (a ROTATE or STOP at the end of a file, a
   * checkpoint): the server starts at the next transaction. When the server's BINLOG_GTID_POS says the
   * file:offset after the last complete transaction has exactly the stream's GTID state, it is the same
   * binlog history, and resuming there is exact for every event; otherwise (another server, a purged
   * file) the GTID state is the way back.
   */
  private async exactResumePoint(
    conn: MysqlConnection,
    cursor: StreamCursor,
    point: ResumePoint,
  ): Promise<ResumePoint> {
    if (point.kind !== "mariadb-gtid") return point;
    const at = cursor.completePosition;
    if (!at.file) return point;
    try {
      const state = await this.gtidPosAt(conn, at.file, at.offset);
      if (state.toString() === point.position.toString()) return { kind: "file", ...at };
    } catch (e) {
      if (!(e instanceof SluiceError) || e.code !== "BINLOG_POSITION_UNAVAILABLE") throw e;
    }
    return point;
  }

  private async plan(conn: MysqlConnection): Promise<StreamPlan> {
    await this.readChecksum(conn);
    const startSpec =
      typeof this.options.start === "string"
        ? parseStartSpec(this.options.start)
        : (this.options.start ?? { kind: "now" });
    const stopSpec =
      typeof this.options.stop === "string" ? parseStopSpec(this.options.stop) : this.options.stop;
    const mariadb = conn.isMariadb;
    let first: ResumePoint;
    let file = "";
    let offset = 4;
    let mariadbState: MariadbGtidPosition | undefined;
    let mysqlExecuted: GtidSet | undefined;
    switch (startSpec.kind) {
      case "now":
        ({ file, offset } = await this.serverHead(conn));
        break;
      case "earliest": {
        const logs = await conn.query("SHOW BINARY LOGS");
        const name = logs.rows[0]?.[0];
        if (!name)
          throw new SluiceError("BINLOG_DISABLED", `${conn.where} lists no binary logs`, {
            context: { server: conn.where },
          });
        file = name;
        offset = 4;
        break;
      }
      case "file":
        file = startSpec.file;
        offset = startSpec.offset;
        break;
      case "mariadb-gtid":
        if (!mariadb) throw this.flavorMismatch(conn, "a MariaDB GTID position");
        mariadbState = startSpec.position;
        break;
      case "mysql-gtid":
        if (mariadb) throw this.flavorMismatch(conn, "a MySQL GTID set");
        mysqlExecuted = startSpec.set;
        break;
    }
    if (startSpec.kind === "mariadb-gtid") first = { kind: "mariadb-gtid", position: startSpec.position };
    else if (startSpec.kind === "mysql-gtid") first = { kind: "mysql-gtid", set: startSpec.set };
    else {
      first = { kind: "file", file, offset };
      if (mariadb) mariadbState = await this.gtidPosAt(conn, file, offset);
    }
    let stop: ResolvedStop | undefined;
    let nonBlocking = false;
    switch (stopSpec?.kind) {
      case undefined:
        break;
      case "head": {
        const head = await this.serverHead(conn);
        stop = { kind: "position", ...head };
        nonBlocking = true;
        break;
      }
      case "file":
        stop = { kind: "position", file: stopSpec.file, offset: stopSpec.offset };
        break;
      case "mariadb-gtid":
        if (!mariadb) throw this.flavorMismatch(conn, "a MariaDB GTID stop");
        stop = { kind: "mariadb-gtid", position: stopSpec.position };
        break;
      case "mysql-gtid":
        if (mariadb) throw this.flavorMismatch(conn, "a MySQL GTID stop");
        stop = { kind: "mysql-gtid", set: stopSpec.set };
        break;
    }
    const cursor = new StreamCursor({ file, offset, mariadbState, mysqlExecuted, stop });
    return { cursor, first, nonBlocking };
  }

  private flavorMismatch(conn: MysqlConnection, what: string): SluiceError {
    return new SluiceError(
      "USAGE_BINLOG_POSITION",
      `${conn.where} is ${conn.isMariadb ? "MariaDB" : "MySQL"} ${conn.handshake.serverVersion}; ${what} does not apply`,
      {
        context: { server: conn.where },
        hint: "MariaDB GTIDs look like 0-1-7140, MySQL GTID sets like uuid:1-100; or start from FILE:OFFSET",
      },
    );
  }

  private async startDump(conn: MysqlConnection, point: ResumePoint, nonBlocking: boolean): Promise<void> {
    // Without these the server either refuses (checksums) or rewrites events for an old replica.
    await conn.query(
      "SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = @@global.binlog_checksum",
    );
    if (conn.isMariadb) await conn.query("SET @mariadb_slave_capability = 4");
    else
      await conn.query(
        `SET @slave_uuid = ${sqlString(this.replicaUuid)}, @replica_uuid = ${sqlString(this.replicaUuid)}`,
      );
    if (this.heartbeatSeconds > 0) {
      const ns = BigInt(Math.round(this.heartbeatSeconds * 1000)) * 1_000_000n;
      await conn.query(`SET @master_heartbeat_period = ${ns}`);
    }
    if (point.kind === "mariadb-gtid") {
      await conn.query(
        `SET @slave_connect_state = ${sqlString(point.position.toString())}, @slave_gtid_strict_mode = 0, @slave_gtid_ignore_duplicates = 0`,
      );
    }
    conn.sendCommand(encodeRegisterSlave({ serverId: this.serverId }));
    const reg = await conn.nextPacket();
    if (isErrPacket(reg.payload)) {
      const err = decodeErr(reg.payload);
      throw new SluiceError(
        "MYSQL_REPLICATION_DENIED",
        `${conn.where} refused to register a replica: ${err.message}`,
        {
          context: { server: conn.where, errno: err.errno, sqlState: err.sqlState },
          hint: "the account needs REPLICATION SLAVE (GRANT REPLICATION SLAVE ON *.* TO ...)",
        },
      );
    }
    if (!isOkPacket(reg.payload)) throw conn.lost("unexpected answer to COM_REGISTER_SLAVE");
    let flags = nonBlocking ? BinlogDumpFlag.NON_BLOCK : 0;
    if (conn.isMariadb) flags |= BinlogDumpFlag.SEND_ANNOTATE_ROWS;
    if (point.kind === "mysql-gtid") {
      conn.sendCommand(
        encodeBinlogDumpGtid({ flags, serverId: this.serverId, file: "", position: 4, gtidSet: point.set }),
      );
    } else if (point.kind === "mariadb-gtid") {
      conn.sendCommand(encodeBinlogDump({ position: 4, flags, serverId: this.serverId, file: "" }));
    } else {
      conn.sendCommand(
        encodeBinlogDump({ position: point.offset, flags, serverId: this.serverId, file: point.file }),
      );
    }
  }
}

function describeResume(p: ResumePoint): string {
  if (p.kind === "file") return `${p.file}:${p.offset}`;
  if (p.kind === "mariadb-gtid") return p.position.toString();
  return p.set.toString();
}

/** Opens a replication stream; iterate it with `for await`. Nothing connects until iteration starts. */
export function openBinlogStream(url: string, options: BinlogStreamOptions = {}): BinlogStream {
  return new BinlogStream(url, options);
}
