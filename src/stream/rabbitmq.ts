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
 * - The head offset: AMQP 0-9-1 cannot ask for it. On 3.10 queue.declare-ok counts 0 messages for a
 *   stream queue, basic.get is refused (540 NOT_IMPLEMENTED, which closes the connection), and a
 *   consumer attached at `last` gets the last chunk and then simply waits for more: no frame marks the
 *   end of the chunk. So `bounds` consumes from `last` and takes the highest offset that arrives
 *   before a short quiet period; `first` is the first offset delivered from `first`. Both are exact
 *   unless the broker stalls mid-chunk for longer than the quiet period, and are only used for info
 *   and lag, never for what is delivered or committed (docs/stream-log.md says where exact values are).
 * - Reconnecting: the connection (rabbitmq-connection.ts) comes back by itself within a budget; the
 *   publisher (rabbitmq-publisher.ts) sends again what was unconfirmed at the loss; readers
 *   (rabbitmq-reader.ts) subscribe again after the last record they handed out.
 * Records: the key travels in the `sluice-key` header, the timestamp in the AMQP timestamp property
 * (milliseconds), user headers as further headers, the producer's record id in the AMQP message-id.
 */
import { SluiceError } from "../core/errors.ts";
import { BrokerCheckpoints, type BrokerWords } from "./checkpoint.ts";
import { type ChannelModel, closeAmqp, RabbitConnection, type RabbitTarget } from "./rabbitmq-connection.ts";
import { ConfirmPublisher, type PublishRequest, ReturnedError } from "./rabbitmq-publisher.ts";
import {
  FIRST_RECORD_WAIT_MS,
  isAmqpCode,
  KEY_HEADER,
  OFFSET_HEADER,
  type ReaderContext,
  StreamQueueReader,
} from "./rabbitmq-reader.ts";
import type { RecordReader, RetentionOptions, StartPosition, StreamBackend, StreamRecord } from "./types.ts";
import { type ReconnectPolicy, reconnectPolicy } from "./url.ts";

export type { RabbitTarget } from "./rabbitmq-connection.ts";

type Channel = Awaited<ReturnType<ChannelModel["createChannel"]>>;

/** Quiet time after which the last chunk is taken as complete. */
const QUIET_MS = 100;
/** An admin operation interrupted by a lost connection is run again after the reconnect, this often. */
const MAX_OPERATION_ATTEMPTS = 5;

// ':' cannot occur in stream or group names, so these never collide with each other or with a stream.
const offsetQueue = (stream: string, group: string) => `sluice-offset:${stream}:${group}`;
const groupsQueue = (stream: string) => `sluice-groups:${stream}`;

const WORDS: BrokerWords = {
  system: "RabbitMQ",
  confirmed: "confirmed",
  logHint: "see the RabbitMQ log (/var/log/rabbitmq) for the reason",
  errorHint: "see the RabbitMQ log (/var/log/rabbitmq) for the reason",
};

export class RabbitBackend implements StreamBackend, ReaderContext {
  readonly adapter = "rabbitmq" as const;
  private readonly publisher: ConfirmPublisher;
  private readonly ensured = new Set<string>();
  private readonly registeredGroups = new Set<string>();
  private readonly offsetQueues = new Set<string>();
  /** What errors report: the offsets this process committed, the records it had confirmed. */
  private readonly checkpoints: BrokerCheckpoints;

  private constructor(
    readonly url: string,
    readonly connection: RabbitConnection,
  ) {
    this.publisher = new ConfirmPublisher(connection);
    this.checkpoints = new BrokerCheckpoints(url, WORDS);
  }

  static async open(
    url: string,
    target: RabbitTarget & { reconnect?: Partial<ReconnectPolicy> },
    connectTimeoutMs = 5000,
  ): Promise<RabbitBackend> {
    return new RabbitBackend(
      url,
      await RabbitConnection.open(url, target, connectTimeoutMs, reconnectPolicy(target.reconnect)),
    );
  }

  /**
   * Runs `fn` on a fresh channel that is closed afterwards (a 404 closes a channel, so admin work uses
   * throwaway ones). While the connection is down it waits; interrupted by a lost connection, it runs
   * again on the next one (every caller's `fn` can be repeated).
   */
  private async withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.connection.check();
      const conn = await this.connection.ready();
      const epoch = this.connection.epoch;
      let ch: Channel | undefined;
      try {
        ch = await conn.createChannel();
        ch.on("error", () => {});
        return await fn(ch);
      } catch (e) {
        const lostMeanwhile = this.connection.epoch !== epoch || !this.connection.current;
        if (!lostMeanwhile || attempt >= MAX_OPERATION_ATTEMPTS || this.connection.closed) throw e;
      } finally {
        if (ch) await closeAmqp(ch);
      }
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

  wrap(e: unknown, doing: string, context: Record<string, string> = {}): SluiceError {
    return this.checkpoints.wrap(e, doing, context);
  }

  lostWhileReading(e: unknown, stream: string, nextOffset: number | undefined): SluiceError {
    return this.checkpoints.lostWhileReading(e, stream, nextOffset);
  }

  /** A failed append: which stream, what this process had confirmed, what to do. */
  private appendError(e: unknown, stream: string, unconfirmed: number): SluiceError {
    if (e instanceof ReturnedError)
      return new SluiceError("STREAM_NOT_FOUND", `RabbitMQ returned records: no stream queue '${stream}'`, {
        context: { url: this.url, stream },
        hint: "the stream was deleted while producing; reopen the producer to declare it again",
      });
    return this.checkpoints.appendError(e, stream, this.publisher.confirmed(stream), unconfirmed);
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

  /**
   * Resolves once the broker confirmed every record. While the connection is down the records wait
   * and are sent (again) after the reconnect; see src/stream/rabbitmq-publisher.ts.
   */
  async write(stream: string, records: readonly StreamRecord[]): Promise<void> {
    this.connection.check();
    const batch = this.publisher.publish(
      records.map((r) => ({
        queue: stream,
        content: Buffer.isBuffer(r.value)
          ? r.value
          : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        options: { headers: { ...r.headers, [KEY_HEADER]: r.key }, timestamp: r.timestamp, mandatory: true },
        key: r.key,
      })),
    );
    try {
      await batch.done;
    } catch (e) {
      throw this.appendError(e, stream, batch.remaining);
    }
  }

  async openReader(stream: string, from: StartPosition, prefetch: number): Promise<RecordReader> {
    this.connection.check();
    const reader = new StreamQueueReader(this, stream, from, prefetch);
    await reader.subscribe();
    return reader;
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
    this.connection.check();
    const queue = offsetQueue(stream, group);
    await this.checkpoints.commit(stream, group, offset, async () => {
      if (!this.offsetQueues.has(queue)) {
        await this.withChannel(async (ch) => {
          await ch.assertQueue(queue, {
            durable: true,
            arguments: { "x-queue-type": "classic", "x-max-length": 1 },
          });
          await ch.assertQueue(groupsQueue(stream), {
            durable: true,
            arguments: { "x-queue-type": "classic" },
          });
        });
        this.offsetQueues.add(queue);
      }
      // Through the confirming publisher: a commit unconfirmed at a disconnect is sent again, in order,
      // so the queue's one message is the latest commit.
      const persistent = { persistent: true };
      const sends: PublishRequest[] = [];
      if (!this.registeredGroups.has(queue))
        sends.push({ queue: groupsQueue(stream), content: Buffer.from(group), options: { ...persistent } });
      sends.push({ queue, content: Buffer.from(String(offset)), options: { ...persistent } });
      await this.publisher.publish(sends).done;
      this.registeredGroups.add(queue);
    });
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
        // A probe cut short by a lost connection must not report what it saw so far (withChannel runs it again).
        ch.on("close", () => reject(new Error("channel closed during the probe")));
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
    await this.connection.close();
  }
}
