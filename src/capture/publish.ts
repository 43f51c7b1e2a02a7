import { randomBytes } from "node:crypto";
import { openStreamLog } from "../stream/index.ts";
import type { Producer, ProducerPolicy, ProducerStats, StreamLog, StreamRecord } from "../stream/types.ts";
import type { SessionEvent } from "./events.ts";

/**
 * Session events into the stream log: one record per event, key `session:<run>:<id>` (so one session's
 * events keep their order under any partitioning), value the event as JSON, timestamp the capture
 * time. Live capture publishes with the `drop` policy (a slow broker costs records, counted, never
 * the server's time); a pcap file with `block` (nothing to protect, so nothing is lost).
 *
 * Each capture numbers its sessions from 1, so every event a publisher writes carries the publisher's
 * run id (`run`, see newRunId): captures started again, or several at once, appending to one stream keep
 * their sessions apart. Events without it (older streams) are keyed `session:<id>`.
 */
export const CAPTURE_STREAM = "capture";

export function eventRecord(e: SessionEvent): StreamRecord {
  return {
    key: e.run === undefined ? `session:${e.session}` : `session:${e.run}:${e.session}`,
    value: Buffer.from(JSON.stringify(e)),
    timestamp: Math.floor(e.ts / 1000),
    headers: { type: e.type },
  };
}

/**
 * An id for one capture run: its start time (base 36 milliseconds, so runs sort by start) and 32 random
 * bits, so that captures started in the same millisecond (on other hosts too) differ. Nothing is read
 * from the stream to make it: a capture that crashed and one running beside it need no coordination.
 */
export function newRunId(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Under `drop`, records go to the producer at least every this many events. */
const DROP_BATCH = 1000;

export class EventPublisher {
  private readonly log: StreamLog;
  private readonly producer: Producer;
  private readonly policy: ProducerPolicy;
  private batch: StreamRecord[] = [];
  private scheduled = false;
  private failure: unknown;
  private readonly failureListeners: ((e: unknown) => void)[] = [];
  /** This capture run's id, in every event it publishes. */
  readonly run = newRunId();

  private constructor(log: StreamLog, producer: Producer, policy: ProducerPolicy) {
    this.log = log;
    this.producer = producer;
    this.policy = policy;
  }

  static async open(
    url: string,
    stream: string | undefined,
    policy: ProducerPolicy,
  ): Promise<EventPublisher> {
    const log = await openStreamLog(url);
    const producer = await log.producer(stream ?? log.defaultStream ?? CAPTURE_STREAM, { policy });
    return new EventPublisher(log, producer, policy);
  }

  get url(): string {
    return this.log.url;
  }

  /** The event as this run publishes it: with the run's id (an event that has one keeps it). */
  stamp(e: SessionEvent): SessionEvent {
    return e.run === undefined ? { ...e, run: this.run } : e;
  }

  publish(e: SessionEvent): void {
    this.batch.push(eventRecord(this.stamp(e)));
    if (this.policy !== "drop") return;
    // Handed to the producer once per input chunk (when the capture waits for more), or every
    // DROP_BATCH records, rather than one append (a promise and a closure) per event. The producer
    // admits a batch record by record until its bounded queue is full, as it admitted single
    // records, and nothing can leave the queue while the capture decodes a chunk, so the same
    // records are kept or dropped.
    if (this.batch.length >= DROP_BATCH) this.appendDropping();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.appendDropping();
      });
    }
  }

  /** With `drop`: returns at once; what does not fit the producer's queue is dropped and counted there. */
  private appendDropping(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.producer.append(batch).catch((err: unknown) => this.failed(err));
  }

  /**
   * Calls `listener` once if the log fails for good: under `drop`, when it is lost (the broker stayed
   * away for the whole reconnect budget), after which every event would be lost.
   */
  onFailure(listener: (e: unknown) => void): void {
    if (this.failure !== undefined) listener(this.failure);
    else this.failureListeners.push(listener);
  }

  private failed(e: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = e;
    for (const l of this.failureListeners.splice(0)) l(e);
  }

  /** With `block`: writes what was published so far, so the reader waits for the log (call between chunks). */
  async drain(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    await this.producer.append(batch);
  }

  stats(): ProducerStats {
    return this.producer.stats();
  }

  async close(): Promise<void> {
    try {
      await this.drain();
      await this.producer.flush();
    } finally {
      await this.producer.close();
      await this.log.close();
    }
  }
}
