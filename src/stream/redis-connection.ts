/**
 * The Redis adapter's connection (ioredis), kept up across server restarts and network failures within
 * a budget, like the RabbitMQ one (rabbitmq-connection.ts): after a loss, ioredis reconnects with the
 * backoff our `retryStrategy` gives (doubling from `minDelayMs` to `maxDelayMs`, ±20 % jitter) until
 * `budgetMs` after the loss. Commands issued meanwhile wait in ioredis' offline queue, and commands
 * sent but unanswered at the loss are sent again after the reconnect, in their order
 * (`autoResendUnfulfilledCommands`): the append script is idempotent for exactly that (redis.ts).
 * Once the budget is spent the connection is failed for good: every pending and later call rejects
 * with the STREAM_BROKER_LOST error that names the server, for how long and what to do. (ioredis itself
 * would leave the re-sent commands of a connection that never came back pending forever, so every
 * call goes through `run`, which races it against that failure.)
 *
 * Redis has no heartbeats, and TCP keepalive notices nothing while the TCP connection itself stays up
 * (a firewall or NAT that dropped its state, a hung server, a host gone without a reset): a command
 * would wait for its reply forever. So every connection checks its own liveness, every quarter of
 * `?heartbeat=` (default 10 s): while commands are outstanding and no reply byte has arrived for
 * longer than the longest of their expected waits (a blocked XREAD's BLOCK time, a WAIT's timeout,
 * else nothing) plus a heartbeat, the connection is taken as lost and its socket destroyed, so the
 * reconnect and re-send above run; a connection with nothing outstanding for a heartbeat sends a PING,
 * so an idle one is checked too.
 */
import { Redis } from "ioredis";
import { messageOf, SluiceError } from "../core/errors.ts";
import { publishConnectionEvent } from "./diagnostics.ts";
import { closedError } from "./reconnect.ts";
import { DEFAULT_HEARTBEAT_MS, type ReconnectPolicy, type RedisStreamTarget } from "./url.ts";

export type RedisTarget = Pick<
  RedisStreamTarget,
  "host" | "port" | "username" | "password" | "db" | "tls" | "connectionName" | "heartbeatMs"
>;

const SYSTEM = "Redis";

export class RedisConnection {
  readonly broker: string;
  readonly client: Redis;
  private opened = false;
  private closing = false;
  private lostAt: number | undefined;
  private lastError: unknown;
  /** Reconnect attempts since the loss (ioredis' `times`). */
  private attempts = 0;
  private failure: SluiceError | undefined;
  private readonly finished: Promise<never>;
  private finish!: (e: SluiceError) => void;
  /** Records sent and not yet acknowledged (set by the backend; reported in events). */
  unconfirmed: () => number = () => 0;
  /** How often the connection proves it is alive (`?heartbeat=`). */
  readonly heartbeatMs: number;
  /** The commands given to `run` and not settled, each with how long its reply may take by itself. */
  private readonly outstanding = new Set<{ expectMs: number }>();
  /** Since when nothing was heard from the server while something was owed (or the last idle PING was due). */
  private quietSince = Date.now();
  private lastTick = Date.now();
  private readonly liveness: NodeJS.Timeout;

  private constructor(
    readonly url: string,
    private readonly target: RedisTarget,
    private readonly connectTimeoutMs: number,
    readonly policy: ReconnectPolicy,
    /** Whether this connection reports its losses (the main one does; readers' own ones stay quiet). */
    private readonly reports: boolean,
  ) {
    this.broker = `${target.host}:${target.port}`;
    this.heartbeatMs = target.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.finished = new Promise<never>((_, reject) => {
      this.finish = reject;
    });
    this.finished.catch(() => {});
    this.client = new Redis({
      host: target.host,
      port: target.port,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      db: target.db,
      ...(target.tls ? { tls: {} } : {}),
      connectionName: target.connectionName ?? "sluice-stream-log",
      lazyConnect: true,
      connectTimeout: connectTimeoutMs,
      // Commands wait for the reconnect however long it takes; the budget is ours (retryStrategy).
      maxRetriesPerRequest: null,
      autoResendUnfulfilledCommands: true,
      enableOfflineQueue: true,
      keepAlive: 10_000,
      retryStrategy: (times) => this.nextDelay(times),
    });
    this.client.on("error", (e: unknown) => {
      this.lastError = e;
    });
    this.client.on("close", () => this.onClose());
    this.client.on("ready", () => this.onReady());
    // Every byte from the server (replies, TLS records) proves the connection alive.
    this.client.on("connect", () => {
      this.client.stream.on("data", () => {
        this.quietSince = Date.now();
      });
    });
    const tickMs = Math.max(25, Math.round(this.heartbeatMs / 4));
    this.liveness = setInterval(() => this.checkAlive(tickMs), tickMs);
    this.liveness.unref();
  }

  /** The first connection is not retried: a wrong URL or an absent server is reported at once. */
  static async open(
    url: string,
    target: RedisTarget,
    connectTimeoutMs: number,
    policy: ReconnectPolicy,
    reports = true,
  ): Promise<RedisConnection> {
    const c = new RedisConnection(url, target, connectTimeoutMs, policy, reports);
    try {
      await c.client.connect();
    } catch (e) {
      c.closing = true;
      c.client.disconnect();
      // ioredis rejects with "Connection is closed."; the reason (refused, WRONGPASS) came as an error event.
      throw connectError(c.lastError ?? e, url, target);
    }
    c.opened = true;
    return c;
  }

  /**
   * Another connection to the same server with the same policy, for blocking reads. It is opened
   * while the log is in use, so its first connection is retried like a reconnect, within the budget
   * (the server may be away just then); commands wait for it.
   */
  duplicate(): RedisConnection {
    const c = new RedisConnection(this.url, this.target, this.connectTimeoutMs, this.policy, false);
    c.opened = true;
    c.client.connect().catch(() => {});
    return c;
  }

  /** The error the connection failed with for good (the reconnect budget was spent). */
  get failed(): SluiceError | undefined {
    return this.failure;
  }

  /**
   * A command's result, or the connection's failure when the server stays away past the budget.
   * `expectMs`: how long the server may take to answer by itself (a blocking command's timeout), on
   * top of which the liveness check allows a heartbeat.
   */
  run<T>(command: Promise<T>, expectMs = 0): Promise<T> {
    if (this.failure) {
      command.catch(() => {});
      return Promise.reject(this.failure);
    }
    if (this.closing) {
      command.catch(() => {});
      return Promise.reject(closedError(this.url));
    }
    // Nothing was owed before: the silence that counts starts now.
    if (this.outstanding.size === 0) this.quietSince = Date.now();
    const entry = { expectMs };
    this.outstanding.add(entry);
    const settled = () => {
      this.outstanding.delete(entry);
    };
    command.then(settled, settled);
    return Promise.race([command, this.finished]);
  }

  /**
   * The liveness check (every quarter heartbeat): a connection that owes replies and has heard
   * nothing for longer than their expected wait plus a heartbeat is lost; an idle one is PINGed.
   */
  private checkAlive(tickMs: number): void {
    const now = Date.now();
    // A tick that comes late (the event loop was busy) may run before replies already received are
    // read: judge at the next one.
    const late = now - this.lastTick > 2 * tickMs;
    this.lastTick = now;
    if (this.closing || this.failure) {
      clearInterval(this.liveness);
      return;
    }
    if (this.client.status !== "ready") {
      this.quietSince = now;
      return;
    }
    const quietMs = now - this.quietSince;
    if (this.outstanding.size === 0) {
      if (quietMs >= this.heartbeatMs) this.run(this.client.ping()).catch(() => {});
      return;
    }
    let expectMs = 0;
    for (const c of this.outstanding) expectMs = Math.max(expectMs, c.expectMs);
    if (late || quietMs <= expectMs + this.heartbeatMs) return;
    this.lastError = new Error(
      `no reply from Redis for ${(quietMs / 1000).toFixed(1)}s (heartbeat ${this.heartbeatMs / 1000}s): the connection went silent`,
    );
    // The 'close' that follows reports the loss (with this reason) and reconnects, re-sending what is owed.
    this.quietSince = now;
    this.client.stream.destroy();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.liveness);
    this.finish(closedError(this.url));
    if (this.failure) return;
    // A reader's connection may be blocked in XREAD, and QUIT would wait behind it: close it at once.
    if (!this.reports) this.client.disconnect();
    else await this.client.quit().catch(() => this.client.disconnect());
  }

  private onClose(): void {
    if (!this.opened || this.closing || this.failure || this.lostAt !== undefined) return;
    this.lostAt = Date.now();
    if (this.reports)
      publishConnectionEvent({
        event: "lost",
        system: SYSTEM,
        url: this.url,
        broker: this.broker,
        reason: this.reason(),
        budgetMs: this.policy.budgetMs,
        unconfirmed: this.unconfirmed(),
      });
  }

  private onReady(): void {
    if (this.lostAt === undefined) return;
    const downMs = Date.now() - this.lostAt;
    this.lostAt = undefined;
    if (this.reports)
      publishConnectionEvent({
        event: "reconnected",
        system: SYSTEM,
        url: this.url,
        broker: this.broker,
        attempt: Math.max(1, this.attempts),
        downMs,
        resent: this.unconfirmed(),
      });
    this.attempts = 0;
  }

  /** ioredis asks before each reconnect attempt (`times` from 1): the wait, or null to give up. */
  private nextDelay(times: number): number | null {
    if (!this.opened || this.closing || this.failure) return null;
    this.attempts = times;
    const lostAt = this.lostAt ?? Date.now();
    const remaining = lostAt + this.policy.budgetMs - Date.now();
    if (this.policy.budgetMs <= 0 || remaining <= 0) {
      this.giveUp(times - 1, Date.now() - lostAt);
      return null;
    }
    const base = Math.min(this.policy.maxDelayMs, this.policy.minDelayMs * 2 ** (times - 1));
    const delay = Math.max(1, Math.round(Math.min(remaining, base * (0.8 + 0.4 * Math.random()))));
    if (times > 1 && this.reports)
      publishConnectionEvent({
        event: "retry",
        system: SYSTEM,
        url: this.url,
        broker: this.broker,
        attempt: times - 1,
        reason: this.reason(),
        nextDelayMs: delay,
        remainingMs: remaining,
      });
    return delay;
  }

  private reason(): string {
    return this.lastError === undefined ? "the server closed the connection" : messageOf(this.lastError);
  }

  private giveUp(attempts: number, downMs: number): void {
    const reason = this.reason();
    if (this.reports && this.policy.budgetMs > 0)
      publishConnectionEvent({
        event: "gave-up",
        system: SYSTEM,
        url: this.url,
        broker: this.broker,
        attempts,
        downMs,
        reason,
      });
    this.failure = new SluiceError(
      "STREAM_BROKER_LOST",
      this.policy.budgetMs > 0
        ? `lost the connection to Redis at ${this.broker} and could not reconnect within ${Math.round(this.policy.budgetMs / 1000)}s (${attempts} attempts): ${reason}`
        : `lost the connection to Redis at ${this.broker}: ${reason}`,
      {
        context: { url: this.url, broker: this.broker },
        hint:
          this.policy.budgetMs > 0
            ? "start Redis or restore the network, then restart the stage: it resumes from its checkpoint; ?reconnect= in the URL waits longer"
            : "reconnecting is off (?reconnect=0); restart when Redis is back: the stage resumes from its checkpoint",
        ...(this.lastError === undefined ? {} : { cause: this.lastError }),
      },
    );
    clearInterval(this.liveness);
    this.finish(this.failure);
  }
}

function connectError(e: unknown, url: string, target: RedisTarget): SluiceError {
  const msg = messageOf(e);
  const errno = (e as { code?: unknown }).code;
  const where = { url, host: target.host, port: target.port };
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(msg))
    return new SluiceError(
      "STREAM_AUTH_FAILED",
      `Redis refused the login${target.username ? ` of user '${target.username}'` : ""}: ${msg}`,
      {
        context: where,
        hint: "check the user and password in the URL (or SLUICE_REDIS_PASSWORD)",
        cause: e,
      },
    );
  if (/NOPERM|DB index is out of range|invalid DB index/i.test(msg))
    return new SluiceError("STREAM_AUTH_FAILED", `Redis refused database ${target.db}: ${msg}`, {
      context: where,
      hint: "check ?db= in the URL (the server's `databases` setting) and the user's ACL",
      cause: e,
    });
  return new SluiceError(
    "STREAM_UNREACHABLE",
    `cannot reach Redis at ${target.host}:${target.port}: ${typeof errno === "string" && !msg.includes(errno) ? `${errno} ` : ""}${msg}`,
    {
      context: where,
      hint: "is Redis running and listening there? `bash scripts/run.sh setup` starts the local one",
      cause: e,
    },
  );
}
