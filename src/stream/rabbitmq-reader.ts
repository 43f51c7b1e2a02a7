/**
 * A cursor over one stream queue, kept across reconnects. It subscribes with `x-stream-offset` and
 * remembers the offset after the last record it handed out; when the connection drops, it waits for
 * the connection to come back and subscribes again at that offset, so nothing is skipped and nothing
 * handed out is handed out again. Records before that offset (the broker starts at the beginning of
 * the chunk holding it) are skipped, and so is a second copy of a record that a producer sent again
 * after a reconnect (same producer id, a sequence already seen: src/stream/rabbitmq-publisher.ts).
 */
import type amqp from "amqplib";
import { SluiceError } from "../core/errors.ts";
import { type ChannelModel, closeAmqp, type RabbitConnection } from "./rabbitmq-connection.ts";
import type { RecordReader, StartPosition, StoredRecord } from "./types.ts";

type Channel = Awaited<ReturnType<ChannelModel["createChannel"]>>;
type ConsumeMessage = amqp.ConsumeMessage;

export const KEY_HEADER = "sluice-key";
export const OFFSET_HEADER = "x-stream-offset";
/**
 * How long a new subscription waits for its first delivery before taking the stream as empty (or
 * caught up). Deliveries of existing records come within milliseconds; the margin is for a loaded machine.
 */
export const FIRST_RECORD_WAIT_MS = 1000;
/** How long the first read of a new subscription waits for each further delivery, and in all. */
const FIRST_READ_LINGER_MS = 20;
const FIRST_READ_LINGER_MAX_MS = 500;
/** Producers whose highest sequence a reader remembers (one per producer instance it has read from). */
const MAX_PRODUCERS_REMEMBERED = 1024;
/**
 * Seconds taken off the time a latest reader attached, when it subscribes again from then after a lost
 * connection: the broker compares it with its own clock (see StreamQueueReader.attachedAt).
 */
const ATTACH_CLOCK_MARGIN_S = 2;
/** Subscribing again after the connection dropped during the subscribe itself. */
const MAX_SUBSCRIBE_ATTEMPTS = 5;

interface Subscription {
  ch: Channel;
  epoch: number;
  /** The connection dropped: subscribe again at `expected`. */
  stale: boolean;
  error: Error | undefined;
}

export interface ReaderContext {
  connection: RabbitConnection;
  url: string;
  /** The error to report when the connection is gone for good, with the stream's checkpoint. */
  lostWhileReading(e: unknown, stream: string, nextOffset: number | undefined): SluiceError;
  /** Wraps a broker error. */
  wrap(e: unknown, doing: string, context: Record<string, string>): SluiceError;
}

export class StreamQueueReader implements RecordReader {
  private sub: Subscription | undefined;
  private buffered: ConsumeMessage[] = [];
  /** The offset of the next record to hand out, once known; records below it are skipped. */
  private expected: number | undefined;
  private readonly start: "first" | "next" | number;
  /**
   * When a subscription at "next" (latest) was first accepted by the broker, in unix seconds: after a
   * lost connection, a reader that has handed out nothing yet subscribes again from there (the broker
   * starts at the first chunk written then or later), not at "next" again, which would skip what was
   * appended while it was away.
   */
  private attachedAt: number | undefined;
  private fresh = true;
  private wake: (() => void) | undefined;
  private fatal: SluiceError | undefined;
  private open = true;
  /** The highest sequence handed out per producer id, to drop copies sent again after a reconnect. */
  private readonly seen = new Map<string, number>();
  private lastProducer: string | undefined;

  constructor(
    private readonly ctx: ReaderContext,
    readonly stream: string,
    from: StartPosition,
    private readonly prefetch: number,
  ) {
    // "next" is the broker's own latest: the first record written after the consumer attaches.
    this.start = from === "earliest" ? "first" : from === "latest" ? "next" : from;
    if (typeof from === "number") this.expected = from;
  }

  /** Subscribes (waiting for the connection while it reconnects). */
  async subscribe(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const epoch = this.ctx.connection.epoch;
      try {
        await this.subscribeOnce();
        return;
      } catch (e) {
        if (e instanceof SluiceError) throw e;
        const lostMeanwhile = this.ctx.connection.epoch !== epoch || !this.ctx.connection.current;
        if (!lostMeanwhile || attempt >= MAX_SUBSCRIBE_ATTEMPTS || !this.open) {
          if (isAmqpCode(e, 404))
            throw new SluiceError("STREAM_NOT_FOUND", `no stream '${this.stream}'`, {
              context: { url: this.ctx.url, stream: this.stream },
              hint: "a producer creates it; check the name",
            });
          throw this.ctx.wrap(e, "subscribing", { stream: this.stream });
        }
      }
    }
  }

  private async subscribeOnce(): Promise<void> {
    let conn: ChannelModel;
    try {
      conn = await this.ctx.connection.ready();
    } catch (e) {
      throw this.ctx.lostWhileReading(e, this.stream, this.expected);
    }
    const epoch = this.ctx.connection.epoch;
    const ch = await conn.createChannel();
    const sub: Subscription = { ch, epoch, stale: false, error: undefined };
    ch.on("error", (e: Error) => {
      sub.error = e;
    });
    ch.on("close", () => setImmediate(() => this.channelClosed(sub)));
    try {
      await ch.prefetch(Math.max(1, this.prefetch));
      // Subscribing again after a reconnect: at the offset after the last record handed out, else (a
      // latest reader that got nothing yet) from the time it first attached.
      const since = this.start === "next" ? this.attachedAt : undefined;
      const at = this.expected ?? (since === undefined ? this.start : { "!": "timestamp", value: since });
      // The broker's clock decides: a margin for a client clock a little ahead of it.
      const attaching = Math.floor(Date.now() / 1000) - ATTACH_CLOCK_MARGIN_S;
      this.buffered = [];
      this.sub = sub;
      this.fresh = true;
      await ch.consume(
        this.stream,
        (msg) => {
          if (sub !== this.sub) return;
          if (msg === null) {
            this.end(
              new SluiceError("STREAM_NOT_FOUND", `the stream '${this.stream}' was deleted while reading`, {
                context: { url: this.ctx.url, stream: this.stream },
              }),
            );
            return;
          }
          this.buffered.push(msg);
          this.wake?.();
        },
        { noAck: false, arguments: { [OFFSET_HEADER]: at } },
      );
      this.attachedAt ??= attaching;
    } catch (e) {
      if (this.sub === sub) this.sub = undefined;
      await closeAmqp(ch);
      throw e;
    }
  }

  /** Its channel closed: because the connection dropped (subscribe again later) or for an error. */
  private channelClosed(sub: Subscription): void {
    if (sub !== this.sub || !this.open) return;
    const connection = this.ctx.connection;
    if (connection.epoch !== sub.epoch || !connection.current) sub.stale = true;
    else
      this.end(
        sub.error
          ? this.ctx.wrap(sub.error, "reading", { stream: this.stream })
          : new SluiceError("STREAM_READER_CLOSED", "the reader's channel closed", {
              context: { url: this.ctx.url, stream: this.stream },
            }),
      );
    this.wake?.();
  }

  private end(e: SluiceError): void {
    this.fatal ??= e;
    this.wake?.();
  }

  async next(max: number, waitMs: number): Promise<StoredRecord[]> {
    for (;;) {
      if (!this.open) return [];
      if (this.fatal) throw this.fatal;
      if (!this.sub || this.sub.stale) await this.subscribe();
      const out = await this.take(max, waitMs);
      if (out) return out;
    }
  }

  /** Resolves on the next delivery or after `ms`; after the timer, pending socket reads run first. */
  private async waitForDelivery(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => setImmediate(resolve), ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  /** What the subscription has (see `next`); undefined when it went stale before delivering anything. */
  private async take(max: number, requestedWaitMs: number): Promise<StoredRecord[] | undefined> {
    const sub = this.sub!;
    const usable = () => !this.fatal && this.open && !sub.stale;
    // "What is there now" takes a round trip for a new subscription: wait for its first delivery.
    const isFirstCall = this.fresh;
    const waitMs = this.fresh ? Math.max(requestedWaitMs, FIRST_RECORD_WAIT_MS) : requestedWaitMs;
    this.fresh = false;
    if (this.buffered.length === 0 && waitMs > 0 && usable()) await this.waitForDelivery(waitMs);
    if (this.fatal && this.open) throw this.fatal;
    const out: StoredRecord[] = [];
    let last: ConsumeMessage | undefined;
    const drain = () => {
      while (out.length < max && this.buffered.length > 0) {
        const msg = this.buffered.shift()!;
        last = msg;
        const rec = this.accept(msg);
        if (rec) out.push(rec);
      }
    };
    drain();
    // A new subscription delivers the chunk holding `from` in several socket reads: the first call
    // waits briefly while more keeps arriving, so that "what is there now" is not cut at a read
    // boundary (records before `from` in the chunk count as progress too).
    for (
      let lingered = 0;
      isFirstCall && out.length < max && usable() && lingered < FIRST_READ_LINGER_MAX_MS;
    ) {
      const before = this.buffered.length;
      await this.waitForDelivery(FIRST_READ_LINGER_MS);
      lingered += FIRST_READ_LINGER_MS;
      if (this.buffered.length === before) break;
      drain();
    }
    // For a stream queue an ack only returns credit: it does not move any committed offset.
    if (last && !sub.stale) {
      try {
        sub.ch.ack(last, true);
      } catch {
        // The channel closed meanwhile; the next subscription starts with fresh credit.
      }
    }
    if (out.length === 0 && sub.stale) return undefined;
    return out;
  }

  /** The record to hand out, or undefined for one before the position or a second copy. */
  private accept(msg: ConsumeMessage): StoredRecord | undefined {
    const rec = toRecord(msg);
    if (this.expected !== undefined && rec.offset < this.expected) return undefined;
    this.expected = rec.offset + 1;
    const id = rec.id;
    const colon = id === undefined ? -1 : id.indexOf(":");
    if (id !== undefined && colon > 0) {
      const producer = id.slice(0, colon);
      const seq = Number(id.slice(colon + 1));
      const highest = this.seen.get(producer);
      if (highest !== undefined && seq <= highest) return undefined;
      if (highest === undefined || producer !== this.lastProducer) {
        // Re-inserted last: the map drops the producer read least recently.
        this.seen.delete(producer);
        if (this.seen.size >= MAX_PRODUCERS_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
        this.lastProducer = producer;
      }
      this.seen.set(producer, seq);
    }
    return rec;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.wake?.();
    if (this.sub) await closeAmqp(this.sub.ch);
  }
}

export function toRecord(msg: ConsumeMessage): StoredRecord {
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
  if (msg.properties.messageId !== undefined) rec.id = String(msg.properties.messageId);
  return rec;
}

export function isAmqpCode(e: unknown, code: number): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === code;
}
