import { connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import {
  AUTH_MORE_DATA_HEADER,
  AUTH_SWITCH_HEADER,
  encodeHandshakeResponse,
  encodeSslRequest,
  type InitialHandshake,
  parseAuthSwitchRequest,
  parseInitialHandshake,
} from "../../codecs/mysql/handshake.ts";
import {
  Capability,
  decodeErr,
  type ErrPacket,
  isEofPacket,
  isErrPacket,
  isOkPacket,
  MARIADB_PROGRESS_ERRNO,
} from "../../codecs/mysql/ok-err.ts";
import { encodePacket, type MysqlPacket, PacketParser, wirePacketCount } from "../../codecs/mysql/packet.ts";
import { messageOf, SluiceError } from "../../core/errors.ts";
import type { MysqlTarget } from "../../core/url.ts";
import { authResponseFor, rsaEncryptPassword } from "./auth.ts";
import { decodeColumnCount, decodeColumnName, decodeTextRow, type TextResult } from "./text-result.ts";

/**
 * One client connection to a MySQL/MariaDB server: TCP (optionally TLS), the connection phase with the
 * usual auth plugins, text queries, and raw packet access for the replication commands. Sockets live
 * here and nowhere else in the replication client; everything it parses goes through the pure codecs.
 */

export interface TlsOptions {
  /** PEM CA bundle to trust instead of the system's. */
  ca?: string | Buffer;
  /** Default true: the server's certificate must verify. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface ConnectOptions {
  /** Upgrade to TLS before authenticating (`true` = verify against the system CAs). */
  ssl?: boolean | TlsOptions;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  /** caching_sha2_password full authentication without TLS: the server's RSA public key (PEM). */
  serverPublicKey?: string | Buffer;
  /** Or: ask the server for its public key (open to a man in the middle; off unless set). */
  allowPublicKeyRetrieval?: boolean;
  /** Pause reading from the socket while this many bytes of packets wait for the consumer. Default 8 MiB. */
  highWaterMarkBytes?: number;
}

const CLIENT_CAPABILITIES =
  Capability.LONG_PASSWORD |
  Capability.LONG_FLAG |
  Capability.PROTOCOL_41 |
  Capability.TRANSACTIONS |
  Capability.SECURE_CONNECTION |
  Capability.MULTI_RESULTS |
  Capability.PLUGIN_AUTH |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CONNECT_ATTRS;

/** MySQL/MariaDB errnos that mean "these credentials are not accepted". */
const ACCESS_DENIED_ERRNOS = new Set([1044, 1045, 1698, 1251, 1275, 2061]);

export function describeTarget(target: MysqlTarget): string {
  return `${target.user}@${target.host}:${target.port}`;
}

export class MysqlConnection {
  readonly target: MysqlTarget;
  readonly where: string;
  handshake!: InitialHandshake;
  capabilities = 0;
  private socket: Socket | TLSSocket;
  private readonly parser: PacketParser;
  private readonly inbox: MysqlPacket[] = [];
  private inboxHead = 0;
  private inboxBytes = 0;
  private waiter: { resolve: (p: MysqlPacket) => void; reject: (e: unknown) => void } | undefined;
  private failure: SluiceError | undefined;
  private nextSequenceId = 0;
  private readonly highWaterMarkBytes: number;
  private paused = false;
  /** When the last bytes arrived (ms since the epoch), to notice a silent connection. */
  lastReceivedAt = Date.now();

  private constructor(target: MysqlTarget, socket: Socket, highWaterMarkBytes: number) {
    this.target = target;
    this.where = describeTarget(target);
    this.socket = socket;
    this.highWaterMarkBytes = highWaterMarkBytes;
    this.parser = new PacketParser((p) => this.receive(p));
  }

  /** Opens a socket, negotiates TLS when asked, and authenticates. */
  static async connect(target: MysqlTarget, options: ConnectOptions = {}): Promise<MysqlConnection> {
    const socket = await openSocket(target, options);
    const conn = new MysqlConnection(target, socket, options.highWaterMarkBytes ?? 8 * 1024 * 1024);
    conn.attach(socket);
    const onAbort = () => conn.destroy(conn.lost("aborted"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const timer =
      options.connectTimeoutMs === undefined
        ? undefined
        : setTimeout(
            () => conn.destroy(conn.lost(`no handshake within ${options.connectTimeoutMs} ms`)),
            options.connectTimeoutMs,
          );
    try {
      await conn.authenticate(options);
      return conn;
    } catch (e) {
      conn.destroy();
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  get connectionId(): number {
    return this.handshake.connectionId;
  }

  get isMariadb(): boolean {
    return this.handshake.isMariadb;
  }

  get encrypted(): boolean {
    return "encrypted" in this.socket && this.socket.encrypted === true;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on("data", (chunk: Buffer) => {
      this.lastReceivedAt = Date.now();
      try {
        this.parser.push(chunk);
      } catch (e) {
        this.destroy(
          e instanceof SluiceError ? e : this.lost(`unreadable data from the server: ${messageOf(e)}`),
        );
      }
    });
    socket.on("error", (e) => this.fail(this.lost(e.message, e)));
    socket.on("close", () => this.fail(this.lost("the server closed the connection")));
  }

  private receive(packet: MysqlPacket): void {
    this.nextSequenceId = packet.nextSequenceId;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(packet);
      return;
    }
    this.inbox.push(packet);
    this.inboxBytes += packet.payload.length;
    if (!this.paused && this.inboxBytes > this.highWaterMarkBytes) {
      this.paused = true;
      this.socket.pause();
    }
  }

  lost(why: string, cause?: unknown): SluiceError {
    return new SluiceError("MYSQL_CONNECTION_LOST", `connection to ${this.where} lost: ${why}`, {
      context: { server: this.where, connectionId: this.handshake?.connectionId },
      hint: "check that the server is up and reachable; the stream reconnects by itself when it can",
      cause,
    });
  }

  private fail(e: SluiceError): void {
    if (this.failure) return;
    this.failure = e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(e);
    }
  }

  /** Bytes of received packets waiting for the consumer. */
  get bufferedBytes(): number {
    return this.inboxBytes;
  }

  /**
   * How long the server has been silent (ms): 0 while packets wait for the consumer or reading is
   * paused, since then the consumer, not the server, is what holds the stream.
   */
  get silentForMs(): number {
    if (this.paused || this.inboxHead < this.inbox.length) return 0;
    return Date.now() - this.lastReceivedAt;
  }

  /** A packet already received, without waiting (undefined when none is buffered). */
  tryNextPacket(): MysqlPacket | undefined {
    if (this.inboxHead >= this.inbox.length) return undefined;
    const p = this.inbox[this.inboxHead]!;
    this.inbox[this.inboxHead] = undefined as unknown as MysqlPacket;
    this.inboxHead += 1;
    this.inboxBytes -= p.payload.length;
    if (this.inboxHead === this.inbox.length) {
      this.inbox.length = 0;
      this.inboxHead = 0;
    } else if (this.inboxHead > 1024) {
      this.inbox.splice(0, this.inboxHead);
      this.inboxHead = 0;
    }
    if (this.paused && this.inboxBytes < this.highWaterMarkBytes / 4) {
      this.paused = false;
      this.lastReceivedAt = Date.now();
      this.socket.resume();
    }
    return p;
  }

  /** The next packet from the server, in order (rejects once the connection is gone). */
  nextPacket(): Promise<MysqlPacket> {
    const p = this.tryNextPacket();
    if (p) return Promise.resolve(p);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private write(payload: Buffer, sequenceId: number): void {
    if (this.failure) throw this.failure;
    this.socket.write(encodePacket(payload, sequenceId));
    this.nextSequenceId = (sequenceId + wirePacketCount(payload.length)) & 0xff;
  }

  /** Sends a command (a new conversation: sequence id 0). */
  sendCommand(payload: Buffer): void {
    this.write(payload, 0);
  }

  serverError(err: ErrPacket, what: string): SluiceError {
    return new SluiceError("MYSQL_SERVER_ERROR", `${what} failed on ${this.where}: ${err.message}`, {
      context: { server: this.where, errno: err.errno, sqlState: err.sqlState },
    });
  }

  /** Runs a statement over the text protocol; a result set comes back as strings. */
  async query(sql: string): Promise<TextResult> {
    this.sendCommand(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, "utf8")]));
    let first = await this.nextPacket();
    const fail = (p: MysqlPacket) => {
      const err = decodeErr(p.payload);
      const e = this.serverError(err, "query");
      e.context.sql = sql.length > 200 ? `${sql.slice(0, 200)}...` : sql;
      return e;
    };
    while (isErrPacket(first.payload) && decodeErr(first.payload).errno === MARIADB_PROGRESS_ERRNO)
      first = await this.nextPacket();
    if (isErrPacket(first.payload)) throw fail(first);
    if (isOkPacket(first.payload)) return { columns: [], rows: [] };
    const count = decodeColumnCount(first.payload);
    const columns: string[] = [];
    for (let i = 0; i < count; i++) columns.push(decodeColumnName((await this.nextPacket()).payload));
    const eof = await this.nextPacket();
    if (!isEofPacket(eof.payload)) throw this.lost("result set without EOF after its columns");
    const rows: (string | null)[][] = [];
    for (;;) {
      const p = await this.nextPacket();
      if (isEofPacket(p.payload)) break;
      if (isErrPacket(p.payload)) throw fail(p);
      rows.push(decodeTextRow(p.payload, count));
    }
    return { columns, rows };
  }

  /** COM_QUIT, then close. Never throws. */
  async close(): Promise<void> {
    if (this.failure) return;
    this.failure = this.lost("closed by the client");
    try {
      this.socket.write(encodePacket(Buffer.from([0x01]), 0));
    } catch {
      // already gone
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 1000);
      this.socket.end(() => {
        clearTimeout(t);
        this.socket.destroy();
        resolve();
      });
    });
  }

  /** Tears the socket down now; pending reads reject with `reason`. */
  destroy(reason?: SluiceError): void {
    this.fail(reason ?? this.lost("closed by the client"));
    this.socket.destroy();
  }

  private async authenticate(options: ConnectOptions): Promise<void> {
    const first = await this.nextPacket();
    if (isErrPacket(first.payload)) throw this.authError(decodeErr(first.payload));
    this.handshake = parseInitialHandshake(first.payload);
    let caps = (CLIENT_CAPABILITIES & this.handshake.capabilities) >>> 0;
    const target = this.target;
    if (options.ssl) {
      if (!(this.handshake.capabilities & Capability.SSL)) {
        throw new SluiceError("MYSQL_TLS_UNAVAILABLE", `${this.where} does not offer TLS`, {
          context: { server: this.where },
          hint: "start the server with ssl_cert/ssl_key, or connect without ?ssl=true",
        });
      }
      caps |= Capability.SSL;
      this.write(encodeSslRequest(caps), this.nextSequenceId);
      await this.upgradeToTls(options.ssl === true ? {} : options.ssl);
    }
    this.capabilities = caps;
    const password = target.password ?? "";
    let plugin = this.handshake.authPluginName;
    let nonce = this.handshake.authPluginData;
    let response = authResponseFor(plugin, password, nonce);
    if (response === undefined) {
      // Unknown first plugin: answer as mysql_native_password; the server will switch us if needed.
      plugin = "mysql_native_password";
      response = authResponseFor(plugin, password, nonce)!;
    }
    this.write(
      encodeHandshakeResponse({
        capabilities: caps,
        user: target.user,
        authResponse: response,
        database: target.database,
        authPluginName: plugin,
        connectAttributes: { _client_name: "sluice", program_name: "sluice" },
      }),
      this.nextSequenceId,
    );
    for (;;) {
      const p = await this.nextPacket();
      const head = p.payload[0];
      if (isOkPacket(p.payload)) return;
      if (isErrPacket(p.payload)) throw this.authError(decodeErr(p.payload));
      if (head === AUTH_SWITCH_HEADER) {
        const sw = parseAuthSwitchRequest(p.payload);
        plugin = sw.pluginName;
        nonce = sw.pluginData;
        if (plugin === "mysql_clear_password") {
          if (!this.encrypted) throw this.cleartextRefused(plugin);
          this.write(Buffer.from(`${password}\0`, "utf8"), this.nextSequenceId);
          continue;
        }
        const r = authResponseFor(plugin, password, nonce);
        if (r === undefined) {
          throw new SluiceError(
            "MYSQL_AUTH_PLUGIN",
            `${this.where} asks for auth plugin '${plugin}', which Sluice does not speak`,
            {
              context: { server: this.where, plugin },
              hint: "give the replication account mysql_native_password, caching_sha2_password or ed25519",
            },
          );
        }
        this.write(r, this.nextSequenceId);
        continue;
      }
      if (head === AUTH_MORE_DATA_HEADER && plugin === "caching_sha2_password") {
        const status = p.payload[1];
        if (status === 0x03) continue; // fast auth succeeded; OK follows
        if (status === 0x04) {
          await this.cachingSha2FullAuth(password, nonce, options);
          continue;
        }
      }
      throw this.lost(`unexpected packet 0x${(head ?? 0).toString(16)} during authentication with ${plugin}`);
    }
  }

  private async cachingSha2FullAuth(password: string, nonce: Buffer, options: ConnectOptions): Promise<void> {
    if (this.encrypted) {
      this.write(Buffer.from(`${password}\0`, "utf8"), this.nextSequenceId);
      return;
    }
    let key = options.serverPublicKey;
    if (key === undefined) {
      if (!options.allowPublicKeyRetrieval) throw this.cleartextRefused("caching_sha2_password");
      this.write(Buffer.from([0x02]), this.nextSequenceId);
      const p = await this.nextPacket();
      if (isErrPacket(p.payload)) throw this.authError(decodeErr(p.payload));
      key = p.payload.subarray(1);
    }
    this.write(rsaEncryptPassword(password, nonce, key), this.nextSequenceId);
  }

  private cleartextRefused(plugin: string): SluiceError {
    return new SluiceError(
      "MYSQL_AUTH_NEEDS_TLS",
      `${this.where} needs the password itself (${plugin} full authentication), which Sluice sends only over TLS or RSA`,
      {
        context: { server: this.where, plugin },
        hint: "connect with ?ssl=true, or give the server's RSA public key (serverPublicKey / ?serverPublicKey=FILE), or allow retrieving it (?allowPublicKeyRetrieval=true)",
      },
    );
  }

  private authError(err: ErrPacket): SluiceError {
    const denied = ACCESS_DENIED_ERRNOS.has(err.errno);
    return new SluiceError(
      denied ? "MYSQL_ACCESS_DENIED" : "MYSQL_CONNECT_REFUSED",
      `${denied ? "access denied" : "connection refused"} for ${this.where}: ${err.message}`,
      {
        context: { server: this.where, errno: err.errno, sqlState: err.sqlState },
        hint: denied
          ? "check the user and password (in the URL or SLUICE_MYSQL_PASSWORD) and that the account may connect from this host"
          : "the server refused the connection before authentication; see its message",
      },
    );
  }

  private async upgradeToTls(tls: TlsOptions): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners("data");
    raw.removeAllListeners("close");
    raw.removeAllListeners("error");
    // Errors of the raw socket surface through the TLS socket on top of it; never as unhandled ones.
    raw.on("error", () => {});
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const servername = tls.servername ?? (isIp(this.target.host) ? undefined : this.target.host);
      const s = tlsConnect({
        socket: raw as Socket,
        // The identity checked against the certificate (an IP address is checked against IP SANs).
        host: this.target.host,
        rejectUnauthorized: tls.rejectUnauthorized ?? true,
        ...(servername === undefined ? {} : { servername }),
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      });
      s.once("secureConnect", () => resolve(s));
      s.once("error", (e) =>
        reject(
          new SluiceError("MYSQL_TLS_FAILED", `TLS with ${this.where} failed: ${e.message}`, {
            context: { server: this.where },
            hint: "give the server's CA (?sslCa=FILE), or for a test server skip verification (?sslVerify=false)",
            cause: e,
          }),
        ),
      );
    });
    this.socket = secure;
    this.attach(secure);
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

async function openSocket(target: MysqlTarget, options: ConnectOptions): Promise<Socket> {
  const where = describeTarget(target);
  return new Promise<Socket>((resolve, reject) => {
    const socket = target.socketPath
      ? netConnect({ path: target.socketPath })
      : netConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const timer =
      options.connectTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            socket.destroy();
            reject(
              new SluiceError(
                "MYSQL_CONNECT_FAILED",
                `cannot connect to ${where}: timed out after ${options.connectTimeoutMs} ms`,
                {
                  context: { server: where },
                  hint: "is the server running and reachable from here?",
                },
              ),
            );
          }, options.connectTimeoutMs);
    const onAbort = () => {
      socket.destroy();
      reject(
        new SluiceError("ABORTED", `connecting to ${where} was aborted`, { context: { server: where } }),
      );
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      resolve(socket);
    });
    socket.once("error", (e) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      reject(
        new SluiceError("MYSQL_CONNECT_FAILED", `cannot connect to ${where}: ${e.message}`, {
          context: { server: where },
          hint: "is the server running, and is the host/port right?",
          cause: e,
        }),
      );
    });
  });
}
