/**
 * Publishing with publisher confirms across reconnects. Every message waits in one ordered map until
 * the broker confirms it; only then does its promise resolve, so nothing is reported durable that was
 * not confirmed. When the connection drops, the messages sent but not confirmed stay in the map and
 * are sent again, in their original order, on the first channel of the new connection.
 *
 * A message that was written but whose confirm was lost with the connection is then in the stream
 * twice. AMQP 0-9-1 has no publisher deduplication (the native stream protocol's publishing ids are
 * not available over it), so each message carries an id, `<producer>:<sequence>` in the AMQP
 * message-id, the same on both copies: readers drop a copy whose sequence they have already seen from
 * that producer (src/stream/rabbitmq-reader.ts), and a stage can compare `StoredRecord.id`.
 */
import { randomBytes } from "node:crypto";
import type amqp from "amqplib";
import type { ChannelModel, RabbitConnection } from "./rabbitmq-connection.ts";

type ConfirmChannel = Awaited<ReturnType<ChannelModel["createConfirmChannel"]>>;

export interface PublishRequest {
  queue: string;
  content: Buffer;
  options: amqp.Options.Publish;
  /** The record key, kept for error messages about the last confirmed record. */
  key?: string;
}

/** The messages of one `publish` call: settled once, when the last is confirmed or the first fails. */
export interface PublishBatch {
  readonly done: Promise<void>;
  /** Messages not confirmed (yet). */
  remaining: number;
}

interface Batch extends PublishBatch {
  settled: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Pending {
  seq: number;
  queue: string;
  content: Buffer;
  options: amqp.Options.Publish;
  key: string | undefined;
  /** The channel generation it was last sent on; 0 = not sent yet. */
  sentOn: number;
  returned: boolean;
  batch: Batch;
}

interface PublishChannel {
  gen: number;
  ch: ConfirmChannel;
  conn: ChannelModel;
}

/** Rejects a message that the broker returned (mandatory, no such queue). */
export class ReturnedError extends Error {
  constructor(readonly queue: string) {
    super(`RabbitMQ returned a message: no queue '${queue}'`);
  }
}

export interface ConfirmedSoFar {
  count: number;
  lastId: string | undefined;
  lastKey: string | undefined;
}

export class ConfirmPublisher {
  /** Unique per publisher: the first half of every message id. */
  readonly producerId = randomBytes(6).toString("hex");
  private nextSeq = 1;
  private readonly pending = new Map<number, Pending>();
  private channel: PublishChannel | undefined;
  private opening: Promise<PublishChannel> | undefined;
  private gen = 0;
  private sending = false;
  private readonly confirmedByQueue = new Map<string, ConfirmedSoFar>();

  constructor(private readonly connection: RabbitConnection) {
    connection.unconfirmed = () => this.sentUnconfirmed();
    connection.onUp(() => this.kick());
    connection.onFailed((e) => {
      for (const p of this.pending.values()) fail(p.batch, e);
      this.pending.clear();
    });
  }

  /**
   * Publishes `reqs` in order (their options get the message id); `done` resolves when the broker
   * confirmed every one, however many connections that takes. One promise per call, not per message:
   * this is the hot path of every append.
   */
  publish(reqs: readonly PublishRequest[]): PublishBatch {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const batch: Batch = { done, remaining: reqs.length, settled: false, resolve, reject };
    if (reqs.length === 0) resolve();
    for (const req of reqs) {
      const seq = this.nextSeq++;
      req.options.messageId = `${this.producerId}:${seq}`;
      this.pending.set(seq, {
        seq,
        queue: req.queue,
        content: req.content,
        options: req.options,
        key: req.key,
        sentOn: 0,
        returned: false,
        batch,
      });
    }
    this.kick();
    return batch;
  }

  confirmed(queue: string): ConfirmedSoFar {
    return this.confirmedByQueue.get(queue) ?? { count: 0, lastId: undefined, lastKey: undefined };
  }

  private sentUnconfirmed(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.sentOn !== 0) n++;
    return n;
  }

  private kick(): void {
    void this.sendPending();
  }

  private hasUnsent(gen: number | undefined): boolean {
    for (const p of this.pending.values()) if (p.sentOn !== gen) return true;
    return false;
  }

  /** The one sender: sends, in sequence order, what was not sent on the current channel. */
  private async sendPending(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.hasUnsent(this.channel?.gen)) {
        const conn = this.connection.current;
        if (!conn) return; // reconnecting: onUp kicks again
        let pub: PublishChannel;
        try {
          pub = await this.openChannel(conn);
        } catch (e) {
          if (this.connection.current === conn) this.rejectUnsent(e); // the connection is fine, channels are not
          return;
        }
        // A Map iterates in insertion order and visits entries added meanwhile: sequence order.
        for (const p of this.pending.values()) {
          if (this.channel !== pub) break;
          if (p.sentOn === pub.gen) continue;
          p.sentOn = pub.gen;
          let flowing: boolean;
          try {
            flowing = pub.ch.sendToQueue(p.queue, p.content, p.options, (err) =>
              this.settle(p, pub.gen, err),
            );
          } catch {
            // The channel closed under us: sent again on the next one, which the channel's 'close'
            // (or the reconnect) asks for; retrying here could spin without ever yielding to I/O.
            p.sentOn = 0;
            if (this.channel === pub) this.channel = undefined;
            return;
          }
          if (!flowing) await drained(pub.ch);
        }
        if (this.channel !== pub && !this.connection.current) return;
      }
    } finally {
      this.sending = false;
    }
  }

  private settle(p: Pending, gen: number, err: unknown): void {
    if (p.sentOn !== gen || this.pending.get(p.seq) !== p) return; // a callback from an earlier channel
    // amqplib fails every unconfirmed message with 'channel closed' when the channel or the connection
    // goes: that is not the broker refusing it, so it stays pending and is sent again.
    if (err && (err as Error).message === "channel closed") return;
    this.pending.delete(p.seq);
    if (err || p.returned) {
      fail(p.batch, err ?? new ReturnedError(p.queue));
      return;
    }
    let c = this.confirmedByQueue.get(p.queue);
    if (!c) {
      c = { count: 0, lastId: undefined, lastKey: undefined };
      this.confirmedByQueue.set(p.queue, c);
    }
    c.count++;
    c.lastId = p.options.messageId;
    c.lastKey = p.key;
    const batch = p.batch;
    if (--batch.remaining === 0 && !batch.settled) {
      batch.settled = true;
      batch.resolve();
    }
  }

  private openChannel(conn: ChannelModel): Promise<PublishChannel> {
    if (this.channel?.conn === conn) return Promise.resolve(this.channel);
    if (this.opening) return this.opening;
    const opening = conn.createConfirmChannel().then((ch) => {
      const pub: PublishChannel = { gen: ++this.gen, ch, conn };
      ch.on("error", () => {});
      ch.on("return", (msg: amqp.Message) => {
        const seq = Number(String(msg.properties.messageId ?? "").split(":")[1]);
        const p = this.pending.get(seq);
        if (p) p.returned = true;
      });
      ch.on("close", () => {
        if (this.channel === pub) this.channel = undefined;
        // The connection's 'close' comes right after its channels': decide once it was handled.
        setImmediate(() => this.channelClosed(pub));
      });
      this.channel = pub;
      return pub;
    });
    this.opening = opening;
    void opening.then(
      () => {
        if (this.opening === opening) this.opening = undefined;
      },
      () => {
        if (this.opening === opening) this.opening = undefined;
      },
    );
    return opening;
  }

  /**
   * A publish channel closed while its connection lives on (the broker closed the channel for an
   * error): what was sent on it may or may not be written, and sending it again could repeat the
   * error forever, so those messages fail; the rest go out on a new channel.
   */
  private channelClosed(pub: PublishChannel): void {
    if (this.connection.current !== pub.conn) return; // the connection went: all is sent again after it
    for (const p of [...this.pending.values()]) {
      if (p.sentOn !== pub.gen) continue;
      this.pending.delete(p.seq);
      fail(p.batch, new Error("the broker closed the publish channel"));
    }
    this.kick();
  }

  private rejectUnsent(e: unknown): void {
    for (const p of [...this.pending.values()]) {
      if (p.sentOn === this.channel?.gen) continue;
      this.pending.delete(p.seq);
      fail(p.batch, e);
    }
  }
}

function fail(batch: Batch, e: unknown): void {
  if (batch.settled) return;
  batch.settled = true;
  batch.reject(e);
}

function drained(ch: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      ch.off("drain", done);
      ch.off("close", done);
      resolve();
    };
    ch.on("drain", done);
    ch.on("close", done);
  });
}
