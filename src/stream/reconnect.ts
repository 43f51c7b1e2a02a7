/**
 * A broker connection kept up across broker restarts and network failures, for the adapters that
 * reconnect by themselves (RabbitMQ, NATS): when the connection drops, it reconnects with
 * exponential backoff (doubling from `minDelayMs` to `maxDelayMs`, with jitter) for at most
 * `budgetMs` after the loss. Meanwhile `ready()` waits; once the budget is spent the connection is
 * failed for good and `ready()` throws the STREAM_BROKER_LOST error that says which broker, for how
 * long and what to do. Users of the connection (publishers, readers) learn about reconnects through
 * `onUp` and compare `epoch` to know whether what they opened on the connection is still valid.
 * Every step is published on the `sluice:stream:connection` diagnostics channel.
 */
import { messageOf, SluiceError } from "../core/errors.ts";
import { publishConnectionEvent } from "./diagnostics.ts";
import type { ReconnectPolicy } from "./url.ts";

/** What a reconnecting connection needs from the client library. */
export interface LinkDriver<C> {
  /** The broker's product name, for messages: "RabbitMQ", "NATS". */
  readonly system: string;
  /** One connection attempt. */
  connect(timeoutMs: number): Promise<C>;
  /** Calls `lost` once when `conn` drops (not when `close` closed it). */
  watch(conn: C, lost: (err: Error | undefined) => void): void;
  close(conn: C): Promise<void>;
}

type State = "up" | "down" | "failed" | "closed";

export class ReconnectingLink<C> {
  readonly broker: string;
  private conn: C | undefined;
  private state: State = "up";
  private epochNo = 1;
  private failure: SluiceError | undefined;
  private waiters: { resolve: (c: C) => void; reject: (e: unknown) => void }[] = [];
  private readonly upListeners = new Set<() => void>();
  private readonly failListeners = new Set<(e: SluiceError) => void>();
  private cancelSleep: (() => void) | undefined;
  /** Records sent and not yet confirmed (set by the publisher; reported in events). */
  unconfirmed: () => number = () => 0;

  constructor(
    readonly url: string,
    host: string,
    port: number,
    private readonly driver: LinkDriver<C>,
    private readonly connectTimeoutMs: number,
    readonly policy: ReconnectPolicy,
    conn: C,
  ) {
    this.broker = `${host}:${port}`;
    this.attach(conn);
  }

  /** Increases with every (re)connection: what was opened under another epoch is gone. */
  get epoch(): number {
    return this.epochNo;
  }

  /** The live connection, or undefined while reconnecting, failed or closed. */
  get current(): C | undefined {
    return this.state === "up" ? this.conn : undefined;
  }

  /** The error the connection failed with for good (the reconnect budget was spent). */
  get failed(): SluiceError | undefined {
    return this.failure;
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  /** Throws when the connection can no longer be used: failed for good, or closed. */
  check(): void {
    if (this.failure) throw this.failure;
    if (this.state === "closed") throw closedError(this.url);
  }

  /** The live connection, waiting while it reconnects; throws once it failed or was closed. */
  ready(): Promise<C> {
    if (this.state === "up" && this.conn) return Promise.resolve(this.conn);
    if (this.state === "failed" && this.failure) return Promise.reject(this.failure);
    if (this.state === "closed") return Promise.reject(closedError(this.url));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  onUp(listener: () => void): void {
    this.upListeners.add(listener);
  }

  /** Called once the connection is finished: failed for good, or closed. */
  onFailed(listener: (e: SluiceError) => void): void {
    this.failListeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    const conn = this.state === "up" ? this.conn : undefined;
    this.state = "closed";
    this.conn = undefined;
    this.cancelSleep?.();
    const closed = closedError(this.url);
    for (const w of this.waiters.splice(0)) w.reject(closed);
    // Whatever still waits for a confirm now never gets one.
    for (const l of this.failListeners) l(closed);
    if (conn !== undefined) await this.driver.close(conn).catch(() => {});
  }

  private attach(conn: C): void {
    this.conn = conn;
    this.driver.watch(conn, (err) => {
      if (this.conn !== conn || this.state !== "up") return;
      this.lose(err);
    });
  }

  private lose(err: Error | undefined): void {
    this.state = "down";
    this.conn = undefined;
    const reason = err ? err.message : "the broker closed the connection";
    publishConnectionEvent({
      event: "lost",
      url: this.url,
      broker: this.broker,
      reason,
      budgetMs: this.policy.budgetMs,
      unconfirmed: this.unconfirmed(),
    });
    if (this.policy.budgetMs <= 0) {
      this.fail(
        new SluiceError(
          "STREAM_BROKER_LOST",
          `lost the connection to ${this.driver.system} at ${this.broker}: ${reason}`,
          {
            context: { url: this.url, broker: this.broker },
            hint: "reconnecting is off (?reconnect=0); restart when the broker is back: the stage resumes from its checkpoint",
            ...(err ? { cause: err } : {}),
          },
        ),
      );
      return;
    }
    void this.reconnect(err);
  }

  private async reconnect(cause: Error | undefined): Promise<void> {
    const lostAt = Date.now();
    const deadline = lostAt + this.policy.budgetMs;
    let delay = this.policy.minDelayMs;
    let attempt = 0;
    let lastError: unknown = cause;
    while (this.state === "down") {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      // Jitter: processes that lost the same broker do not all come back in the same millisecond.
      await this.sleep(Math.min(remaining, delay * (0.8 + 0.4 * Math.random())));
      if (this.state !== "down") return;
      attempt++;
      try {
        const conn = await this.driver.connect(Math.max(1000, Math.min(this.connectTimeoutMs, remaining)));
        if (this.state !== "down") {
          await this.driver.close(conn).catch(() => {});
          return;
        }
        const resent = this.unconfirmed();
        this.epochNo++;
        this.state = "up";
        this.attach(conn);
        publishConnectionEvent({
          event: "reconnected",
          url: this.url,
          broker: this.broker,
          attempt,
          downMs: Date.now() - lostAt,
          resent,
        });
        for (const w of this.waiters.splice(0)) w.resolve(conn);
        for (const l of this.upListeners) l();
        return;
      } catch (e) {
        lastError = e;
        delay = Math.min(this.policy.maxDelayMs, delay * 2);
        publishConnectionEvent({
          event: "retry",
          url: this.url,
          broker: this.broker,
          attempt,
          reason: messageOf(e),
          nextDelayMs: delay,
          remainingMs: Math.max(0, deadline - Date.now()),
        });
      }
    }
    if (this.state !== "down") return;
    const downMs = Date.now() - lostAt;
    const reason = lastError === undefined ? "the broker closed the connection" : messageOf(lastError);
    publishConnectionEvent({
      event: "gave-up",
      url: this.url,
      broker: this.broker,
      attempts: attempt,
      downMs,
      reason,
    });
    this.fail(
      new SluiceError(
        "STREAM_BROKER_LOST",
        `lost the connection to ${this.driver.system} at ${this.broker} and could not reconnect within ${Math.round(this.policy.budgetMs / 1000)}s (${attempt} attempts): ${reason}`,
        {
          context: { url: this.url, broker: this.broker },
          hint: "start the broker or restore the network, then restart the stage: it resumes from its checkpoint; ?reconnect= in the URL waits longer",
          ...(lastError === undefined ? {} : { cause: lastError }),
        },
      ),
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.cancelSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private fail(e: SluiceError): void {
    this.state = "failed";
    this.failure = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
    for (const l of this.failListeners) l(e);
  }
}

export function closedError(url: string): SluiceError {
  return new SluiceError("STREAM_CLOSED", "the stream log is closed", { context: { url } });
}
