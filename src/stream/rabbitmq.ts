/**
 * The RabbitMQ adapter: each Sluice stream is a RabbitMQ stream queue (`x-queue-type: stream`),
 * spoken to over AMQP 0-9-1 with amqplib.
 *
 * Why AMQP 0-9-1 and not the native stream protocol: the maintained Node client for the native
 * protocol (rabbitmq-stream-js-client 1.x) opens every connection with the exchange-command-versions
 * command, which RabbitMQ 3.10 rejects by closing the connection; the broker we run is 3.10.8. Over
 * AMQP 0-9-1 a stream queue still gives what the log needs: publisher confirms (block policy),
 * consumers that start at any offset (`x-stream-offset`) and see each record's offset in the
 * `x-stream-offset` header, and retention by `x-max-age` / `x-max-length-bytes`.
 *
 * What AMQP 0-9-1 lacks, and how this adapter makes up for it:
 * - Committed offsets (the native protocol stores them in the stream): each consumer group has a
 *   durable classic queue `sluice-offset:<stream>:<group>` with `x-max-length: 1` holding one
 *   persistent message, the committed offset. A commit publishes the new value with a confirm; the old
 *   one is dropped by the length limit. Reading it is basic.get then requeue, so a reader racing
 *   another reader of the same group can briefly see nothing; loadCommitted retries for that.
 * - Listing groups: a classic queue `sluice-groups:<stream>` receives a group's name on its first
 *   commit from each process; listing reads and requeues it.
 * - The head offset: there is no query for it, so `bounds` consumes from `last` (which starts at the
 *   last chunk) and takes the highest offset that arrives before a short quiet period; `first` is the
 *   first offset delivered from `first`. Both are exact unless the broker stalls mid-chunk for longer
 *   than the quiet period, and are only used for info and lag.
 * Records: the key travels in the `sluice-key` header, the timestamp in the AMQP timestamp property
 * (milliseconds), user headers as further headers.
 */
import amqp from "amqplib";
import { messageOf, SluiceError } from "../core/errors.ts";
import type {
  RecordReader,
  RetentionOptions,
  StartPosition,
  StoredRecord,
  StreamBackend,
  StreamRecord,
} from "./types.ts";

type ChannelModel = Awaited<ReturnType<typeof amqp.connect>>;
type Channel = Awaited<ReturnType<ChannelModel["createChannel"]>>;
type ConfirmChannel = Awaited<ReturnType<ChannelModel["createConfirmChannel"]>>;
type ConsumeMessage = amqp.ConsumeMessage;

const KEY_HEADER = "sluice-key";
const OFFSET_HEADER = "x-stream-offset";
/**
 * How long a new subscription waits for its first delivery before taking the stream as empty (or
 * caught up). Deliveries of existing records come within milliseconds; the margin is for a loaded machine.
 */
const FIRST_RECORD_WAIT_MS = 1000;
/** How long the first read of a new subscription waits for each further delivery, and in all. */
const FIRST_READ_LINGER_MS = 20;
const FIRST_READ_LINGER_MAX_MS = 500;
/** Quiet time after which the last chunk is taken as complete. */
const QUIET_MS = 100;

export interface RabbitTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
}

// ':' cannot occur in stream or group names, so these never collide with each other or with a stream.
const offsetQueue = (stream: string, group: string) => `sluice-offset:${stream}:${group}`;
const groupsQueue = (stream: string) => `sluice-groups:${stream}`;

export class RabbitBackend implements StreamBackend {
  readonly adapter = "rabbitmq" as const;
  private publishChannel: Promise<ConfirmChannel> | undefined;
  private readonly ensured = new Set<string>();
  private readonly registeredGroups = new Set<string>();
  private readonly offsetQueues = new Set<string>();
  private lost: SluiceError | undefined;
  private readonly lostListeners = new Set<(e: SluiceError) => void>();
  private readonly returned = new Set<string>();
  private closing = false;

  private constructor(
    readonly url: string,
    private readonly conn: ChannelModel,
  ) {
    conn.on("error", () => {
      // The 'close' event that follows carries the same error; handled there.
    });
    conn.on("close", (err?: Error) => {
      if (this.closing) return;
      this.lose(err);
    });
  }

  static async open(url: string, target: RabbitTarget, connectTimeoutMs = 5000): Promise<RabbitBackend> {
    let conn: ChannelModel;
    try {
      conn = await amqp.connect(
        {
          protocol: "amqp",
          hostname: target.host,
          port: target.port,
          username: target.username,
          password: target.password,
          vhost: target.vhost,
          heartbeat: 10,
        },
        { timeout: connectTimeoutMs, clientProperties: { connection_name: "sluice stream log" } },
      );
    } catch (e) {
      throw connectError(e, url, target);
    }
    return new RabbitBackend(url, conn);
  }

  private lose(err: Error | undefined): void {
    if (this.lost) return;
    this.lost = new SluiceError(
      "STREAM_BROKER_LOST",
      `lost the connection to RabbitMQ${err ? `: ${err.message}` : ""}`,
      {
        context: { url: this.url },
        hint: "appends that had not returned were not confirmed and may need to be sent again; reopen the log when the broker is back",
        ...(err ? { cause: err } : {}),
      },
    );
    for (const l of this.lostListeners) l(this.lost);
    this.lostListeners.clear();
  }

  /** Settles with `p`, or rejects as soon as the connection is lost (pending confirms never come then). */
  private async untilLost<T>(p: Promise<T>): Promise<T> {
    if (this.lost) throw this.lost;
    let listener: ((e: SluiceError) => void) | undefined;
    const lost = new Promise<never>((_, reject) => {
      listener = reject;
      this.lostListeners.add(reject);
    });
    try {
      return await Promise.race([p, lost]);
    } finally {
      if (listener) this.lostListeners.delete(listener);
    }
  }

  private live(): void {
    if (this.lost) throw this.lost;
    if (this.closing)
      throw new SluiceError("STREAM_CLOSED", "the stream log is closed", { context: { url: this.url } });
  }

  /** Runs `fn` on a fresh channel that is closed afterwards (a 404 closes a channel, so admin work uses throwaway ones). */
  private async withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    this.live();
    const ch = await this.conn.createChannel();
    ch.on("error", () => {});
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Whether a queue exists (passive declare; a 404 closes the throwaway channel, which is fine). */
  private async queueExists(queue: string): Promise<boolean> {
    try {
      await this.withChannel((ch) => ch.checkQueue(queue));
      return true;
    } catch (e) {
      if (isAmqpCode(e, 404)) return false;
      throw this.wrap(e, "checking a queue", { queue });
    }
  }

  private wrap(e: unknown, doing: string, context: Record<string, string> = {}): SluiceError {
    if (e instanceof SluiceError) return e;
    if (this.lost) return this.lost;
    return new SluiceError("STREAM_BROKER_ERROR", `RabbitMQ failed while ${doing}: ${messageOf(e)}`, {
      context: { url: this.url, ...context },
      hint: "see the RabbitMQ log (/var/log/rabbitmq) for the reason",
      cause: e,
    });
  }

  async ensureStream(stream: string, retention: RetentionOptions): Promise<void> {
    if (this.ensured.has(stream)) return;
    if (!(await this.queueExists(stream))) {
      const args: Record<string, unknown> = { "x-queue-type": "stream" };
      if (retention.maxAgeMs !== undefined)
        args["x-max-age"] = `${Math.max(1, Math.ceil(retention.maxAgeMs / 1000))}s`;
      if (retention.maxBytes !== undefined) {
        args["x-max-length-bytes"] = retention.maxBytes;
        // Retention removes whole segments: keep several segments within the limit.
        args["x-stream-max-segment-size-bytes"] = Math.min(
          500_000_000,
          Math.max(4096, Math.floor(retention.maxBytes / 4)),
        );
      }
      try {
        await this.withChannel((ch) => ch.assertQueue(stream, { durable: true, arguments: args }));
      } catch (e) {
        throw this.wrap(e, "declaring the stream", { stream });
      }
    }
    this.ensured.add(stream);
  }

  private getPublishChannel(): Promise<ConfirmChannel> {
    if (!this.publishChannel) {
      const p = this.conn.createConfirmChannel().then((ch) => {
        ch.on("error", () => {});
        ch.on("close", () => {
          if (this.publishChannel === p) this.publishChannel = undefined;
        });
        ch.on("return", (msg: amqp.Message) => this.returned.add(msg.fields.routingKey));
        return ch;
      });
      this.publishChannel = p;
      p.catch(() => {
        if (this.publishChannel === p) this.publishChannel = undefined;
      });
    }
    return this.publishChannel;
  }

  async write(stream: string, records: readonly StreamRecord[]): Promise<void> {
    this.live();
    const ch = await this.getPublishChannel().catch((e) => {
      throw this.wrap(e, "opening a channel", { stream });
    });
    try {
      const confirms: Promise<void>[] = [];
      for (const r of records) {
        const headers: Record<string, string> = { ...r.headers, [KEY_HEADER]: r.key };
        const content = Buffer.isBuffer(r.value)
          ? r.value
          : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        let ok = true;
        const confirm = new Promise<void>((resolve, reject) => {
          ok = ch.sendToQueue(stream, content, { headers, timestamp: r.timestamp, mandatory: true }, (err) =>
            err ? reject(err) : resolve(),
          );
        });
        // Rejections after an earlier failure are expected; the first one is reported below.
        confirm.catch(() => {});
        confirms.push(confirm);
        if (!ok) await this.untilLost(new Promise((resolve) => ch.once("drain", resolve)));
      }
      await this.untilLost(Promise.all(confirms));
    } catch (e) {
      throw this.wrap(e, "appending (no publisher confirm)", { stream });
    }
    if (this.returned.delete(stream))
      throw new SluiceError("STREAM_NOT_FOUND", `RabbitMQ returned records: no stream queue '${stream}'`, {
        context: { url: this.url, stream },
        hint: "the stream was deleted while producing; reopen the producer to declare it again",
      });
  }

  async openReader(stream: string, from: StartPosition, prefetch: number): Promise<RecordReader> {
    this.live();
    let start: number | "first" | "next";
    if (from === "earliest") start = "first";
    // "next" is the broker's own latest: the first record written after the consumer attaches.
    else if (from === "latest") start = "next";
    else start = from;
    const ch = await this.conn.createChannel();
    const buffered: ConsumeMessage[] = [];
    let wake: (() => void) | undefined;
    let ended: SluiceError | undefined;
    const end = (e: SluiceError) => {
      ended ??= e;
      wake?.();
    };
    ch.on("error", (e: Error) => end(this.wrap(e, "reading", { stream })));
    ch.on("close", () =>
      end(
        this.lost ??
          new SluiceError("STREAM_READER_CLOSED", "the reader's channel closed", {
            context: { url: this.url, stream },
          }),
      ),
    );
    await ch.prefetch(Math.max(1, prefetch));
    const minOffset = typeof start === "number" ? start : 0;
    try {
      await ch.consume(
        stream,
        (msg) => {
          if (msg === null) {
            end(
              new SluiceError("STREAM_NOT_FOUND", `the stream '${stream}' was deleted while reading`, {
                context: { url: this.url, stream },
              }),
            );
            return;
          }
          buffered.push(msg);
          wake?.();
        },
        { noAck: false, arguments: { [OFFSET_HEADER]: start } },
      );
    } catch (e) {
      await ch.close().catch(() => {});
      if (isAmqpCode(e, 404))
        throw new SluiceError("STREAM_NOT_FOUND", `no stream '${stream}'`, {
          context: { url: this.url, stream },
          hint: "a producer creates it; check the name",
        });
      throw this.wrap(e, "subscribing", { stream });
    }
    let open = true;
    let fresh = true;
    /** Resolves on the next delivery or after `ms`; after the timer, pending socket reads run first (see probe). */
    const waitForDelivery = async (ms: number) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => setImmediate(resolve), ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    };
    return {
      next: async (max, requestedWaitMs) => {
        // "What is there now" takes a round trip for a new subscription: wait for its first delivery.
        const isFirstCall = fresh;
        const waitMs = fresh ? Math.max(requestedWaitMs, FIRST_RECORD_WAIT_MS) : requestedWaitMs;
        fresh = false;
        if (buffered.length === 0 && waitMs > 0 && !ended && open) {
          await waitForDelivery(waitMs);
        }
        // A lost connection fails the reader at once; what it had buffered comes again after the commit.
        if (ended && open) throw ended;
        const out: StoredRecord[] = [];
        let last: ConsumeMessage | undefined;
        while (out.length < max && buffered.length > 0) {
          const msg = buffered.shift()!;
          last = msg;
          const rec = toRecord(msg);
          // A consumer starts at the chunk holding the offset; skip what comes before it.
          if (rec.offset >= minOffset) out.push(rec);
        }
        // A new subscription delivers the chunk holding `from` in several socket reads: the first
        // call waits briefly while more keeps arriving, so that "what is there now" is not cut at
        // a read boundary (records before `from` in the chunk count as progress too).
        for (
          let lingered = 0;
          isFirstCall && out.length < max && !ended && open && lingered < FIRST_READ_LINGER_MAX_MS;
        ) {
          const before = buffered.length;
          await waitForDelivery(FIRST_READ_LINGER_MS);
          lingered += FIRST_READ_LINGER_MS;
          if (buffered.length === before) break;
          while (out.length < max && buffered.length > 0) {
            const msg = buffered.shift()!;
            last = msg;
            const rec = toRecord(msg);
            if (rec.offset >= minOffset) out.push(rec);
          }
        }
        // For a stream queue an ack only returns credit: it does not move any committed offset.
        if (last) ch.ack(last, true);
        return out;
      },
      close: async () => {
        if (!open) return;
        open = false;
        await ch.close().catch(() => {});
      },
    };
  }

  async loadCommitted(stream: string, group: string): Promise<number | undefined> {
    const queue = offsetQueue(stream, group);
    if (!(await this.queueExists(queue))) return undefined;
    try {
      return await this.withChannel(async (ch) => {
        // Another reader of this group may hold the message for a moment: retry before concluding.
        for (let attempt = 0; attempt < 10; attempt++) {
          const msg = await ch.get(queue, { noAck: false });
          if (msg) {
            ch.nack(msg, false, true);
            return Number(msg.content.toString("utf8"));
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        return undefined;
      });
    } catch (e) {
      throw this.wrap(e, "reading a committed offset", { stream, group });
    }
  }

  async storeCommitted(stream: string, group: string, offset: number): Promise<void> {
    this.live();
    const queue = offsetQueue(stream, group);
    try {
      const ch = await this.getPublishChannel();
      if (!this.offsetQueues.has(queue)) {
        await ch.assertQueue(queue, {
          durable: true,
          arguments: { "x-queue-type": "classic", "x-max-length": 1 },
        });
        await ch.assertQueue(groupsQueue(stream), {
          durable: true,
          arguments: { "x-queue-type": "classic" },
        });
        this.offsetQueues.add(queue);
      }
      const sends: Promise<void>[] = [];
      const publish = (q: string, body: string) =>
        sends.push(
          new Promise<void>((resolve, reject) => {
            ch.sendToQueue(q, Buffer.from(body), { persistent: true }, (err) =>
              err ? reject(err) : resolve(),
            );
          }),
        );
      if (!this.registeredGroups.has(queue)) publish(groupsQueue(stream), group);
      publish(queue, String(offset));
      await this.untilLost(Promise.all(sends));
      this.registeredGroups.add(queue);
    } catch (e) {
      throw this.wrap(e, "committing an offset", { stream, group, offset: String(offset) });
    }
  }

  async bounds(
    stream: string,
  ): Promise<{ first: number | undefined; head: number | undefined; exists: boolean }> {
    if (!(await this.queueExists(stream))) return { first: undefined, head: undefined, exists: false };
    const [first, head] = await Promise.all([this.probe(stream, "first"), this.probe(stream, "last")]);
    return { first, head, exists: true };
  }

  /** The first offset delivered from `first`, or the highest offset of the last chunk. */
  private async probe(stream: string, at: "first" | "last"): Promise<number | undefined> {
    return this.withChannel(async (ch) => {
      await ch.prefetch(1000);
      let best: number | undefined;
      let seen = 0;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        // Resolve only when no delivery came in the quiet time, checked after pending socket reads
        // (setImmediate runs after the poll phase): a process descheduled for longer than the quiet
        // time must not take its own pause for the end of the chunk.
        const arm = (ms: number) => {
          clearTimeout(timer);
          const at = seen;
          timer = setTimeout(() => setImmediate(() => (seen === at ? resolve() : undefined)), ms);
        };
        arm(FIRST_RECORD_WAIT_MS);
        ch.consume(
          stream,
          (msg) => {
            if (!msg) return resolve();
            seen++;
            const offset = Number(msg.properties.headers?.[OFFSET_HEADER]);
            ch.ack(msg);
            if (at === "first") {
              best ??= offset;
              return resolve();
            }
            best = best === undefined ? offset : Math.max(best, offset);
            arm(QUIET_MS);
          },
          { noAck: false, arguments: { [OFFSET_HEADER]: at } },
        ).catch(reject);
      }).finally(() => clearTimeout(timer));
      return best;
    });
  }

  async groups(stream: string): Promise<string[]> {
    const queue = groupsQueue(stream);
    if (!(await this.queueExists(queue))) return [];
    return this.withChannel(async (ch) => {
      const names = new Set<string>();
      for (;;) {
        const msg = await ch.get(queue, { noAck: false });
        if (!msg) break;
        names.add(msg.content.toString("utf8"));
      }
      ch.nackAll(true);
      return [...names].sort();
    });
  }

  async streams(): Promise<string[]> {
    // AMQP 0-9-1 cannot list queues; these are the streams this process has used.
    return [...this.ensured].sort();
  }

  async retention(stream: string): Promise<RetentionOptions> {
    void stream;
    // Not readable over AMQP 0-9-1 (set when the stream is declared).
    return {};
  }

  async deleteStream(stream: string): Promise<void> {
    const groups = await this.groups(stream);
    try {
      await this.withChannel(async (ch) => {
        for (const g of groups) await ch.deleteQueue(offsetQueue(stream, g));
        await ch.deleteQueue(groupsQueue(stream));
        await ch.deleteQueue(stream);
      });
    } catch (e) {
      throw this.wrap(e, "deleting the stream", { stream });
    }
    this.ensured.delete(stream);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.conn.close().catch(() => {});
  }
}

function toRecord(msg: ConsumeMessage): StoredRecord {
  const {
    [OFFSET_HEADER]: offset,
    [KEY_HEADER]: key,
    ...rest
  } = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const rec: StoredRecord = {
    offset: Number(offset),
    partition: 0,
    key: key === undefined ? "" : String(key),
    value: msg.content,
    timestamp: Number(msg.properties.timestamp ?? 0),
  };
  const names = Object.keys(rest);
  if (names.length > 0) {
    const headers: Record<string, string> = {};
    for (const n of names) headers[n] = String(rest[n]);
    rec.headers = headers;
  }
  return rec;
}

function isAmqpCode(e: unknown, code: number): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === code;
}

function connectError(e: unknown, url: string, target: RabbitTarget): SluiceError {
  const msg = messageOf(e);
  const errno = (e as { code?: unknown }).code;
  const where = { url, host: target.host, port: target.port };
  if (/ACCESS.REFUSED|403/.test(msg))
    return new SluiceError("STREAM_AUTH_FAILED", `RabbitMQ refused the login of user '${target.username}'`, {
      context: where,
      hint: "check the user and password in the URL (or SLUICE_AMQP_PASSWORD)",
      cause: e,
    });
  if (/ConnectionOpenOk|NOT_ALLOWED|530/.test(msg))
    return new SluiceError("STREAM_AUTH_FAILED", `RabbitMQ refused access to vhost '${target.vhost}'`, {
      context: where,
      hint: "check ?vhost= in the URL and the user's permissions (rabbitmqctl list_permissions)",
      cause: e,
    });
  return new SluiceError(
    "STREAM_UNREACHABLE",
    `cannot reach RabbitMQ at ${target.host}:${target.port}: ${typeof errno === "string" ? `${errno} ` : ""}${msg}`,
    {
      context: where,
      hint: "is RabbitMQ running and listening there? `bash scripts/run.sh setup` starts the local one",
      cause: e,
    },
  );
}
