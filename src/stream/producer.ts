import { isSluiceError, SluiceError } from "../core/errors.ts";
import { streamMetrics } from "./metrics.ts";
import type {
  AppendResult,
  Producer,
  ProducerOptions,
  ProducerPolicy,
  ProducerStats,
  StreamBackend,
  StreamRecord,
} from "./types.ts";

/** One `block` append call: resolved when all its records are durable, rejected if any is not. */
interface Ticket {
  remaining: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Entry {
  record: StreamRecord;
  bytes: number;
  ticket: Ticket | undefined;
}

const DEFAULTS = { maxBatch: 1000, maxQueuedRecords: 10_000, maxQueuedBytes: 64 * 2 ** 20 };

/**
 * The producer policies over any backend. Records wait in one FIFO queue and are written by a single
 * pump, at most `maxBatch` per write, so the order of appends is the order in the log. Capacity counts
 * queued and in-flight records, so memory stays bounded under both policies.
 * - block: `append` waits for capacity, then for its records to be durable. After a failed write the
 *   producer is failed: the queue is rejected and later appends throw, because writing later records
 *   after an earlier one was lost would break per-key order.
 * - drop: `append` queues what fits and returns at once; failed writes are counted, not thrown,
 *   except when the log is lost for good (STREAM_BROKER_LOST: the broker stayed away for the whole
 *   reconnect budget): then the producer is failed as under block, since every later write would
 *   fail too, and `append` throws that error so that the source can stop.
 */
export class PolicyProducer implements Producer {
  readonly stream: string;
  private readonly policy: ProducerPolicy;
  private readonly maxBatch: number;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private queue: Entry[] = [];
  private head = 0;
  private heldRecords = 0;
  private heldBytes = 0;
  private pumping = false;
  private scheduled = false;
  private closed = false;
  private failure: SluiceError | undefined;
  private readonly roomWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private counters = { appended: 0, dropped: 0, failed: 0 };
  private lastError: string | undefined;
  private readonly metrics = streamMetrics();
  private readonly labels: { stream: string; policy: ProducerPolicy };

  constructor(
    private readonly backend: StreamBackend,
    stream: string,
    options: ProducerOptions = {},
  ) {
    this.stream = stream;
    this.policy = options.policy ?? "block";
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULTS.maxBatch);
    this.maxRecords = Math.max(1, options.maxQueuedRecords ?? DEFAULTS.maxQueuedRecords);
    this.maxBytes = Math.max(1, options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes);
    this.labels = { stream, policy: this.policy };
  }

  async append(records: readonly StreamRecord[]): Promise<AppendResult> {
    if (this.closed)
      throw new SluiceError("STREAM_PRODUCER_CLOSED", "append after close", {
        context: { stream: this.stream, url: this.backend.url },
      });
    if (this.failure) throw this.failure;
    if (records.length === 0) return { accepted: 0, dropped: 0 };
    return this.policy === "drop" ? this.appendDropping(records) : this.appendBlocking(records);
  }

  private appendDropping(records: readonly StreamRecord[]): AppendResult {
    let accepted = 0;
    for (const record of records) {
      const bytes = record.value.byteLength;
      if (this.heldRecords + 1 > this.maxRecords || this.heldBytes + bytes > this.maxBytes) break;
      this.push({ record, bytes, ticket: undefined });
      accepted++;
    }
    const dropped = records.length - accepted;
    this.counters.dropped += dropped;
    if (dropped > 0) this.metrics.dropped.inc({ stream: this.stream }, dropped);
    this.schedulePump();
    return { accepted, dropped };
  }

  private async appendBlocking(records: readonly StreamRecord[]): Promise<AppendResult> {
    let bytes = 0;
    for (const r of records) bytes += r.value.byteLength;
    // FIFO admission: only the front waiter is woken; if it still does not fit it stays in front.
    // The check and the push below run in one synchronous stretch, so two appenders never both
    // take the same room. A batch bigger than the whole capacity goes alone, when nothing is held.
    if (this.roomWaiters.length > 0 || !(this.fits(records.length, bytes) || this.heldRecords === 0)) {
      let front = false;
      for (;;) {
        await new Promise<void>((resolve) =>
          front ? this.roomWaiters.unshift(resolve) : this.roomWaiters.push(resolve),
        );
        front = true;
        if (this.failure) throw this.failure;
        if (this.fits(records.length, bytes) || this.heldRecords === 0) break;
      }
    }
    if (this.failure) throw this.failure;
    const done = new Promise<void>((resolve, reject) => {
      const ticket: Ticket = { remaining: records.length, resolve, reject };
      for (const record of records) this.push({ record, bytes: record.value.byteLength, ticket });
    });
    // Admitted and queued: the next blocked appender may fit too.
    this.wakeNextWaiter();
    this.schedulePump();
    await done;
    return { accepted: records.length, dropped: 0 };
  }

  private fits(n: number, bytes: number): boolean {
    return this.heldRecords + n <= this.maxRecords && this.heldBytes + bytes <= this.maxBytes;
  }

  private push(entry: Entry): void {
    this.metrics.queued.inc(this.labels);
    this.queue.push(entry);
    this.heldRecords++;
    this.heldBytes += entry.bytes;
  }

  private wakeNextWaiter(): void {
    this.roomWaiters.shift()?.();
  }

  private takeBatch(): Entry[] {
    const end = Math.min(this.queue.length, this.head + this.maxBatch);
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  /**
   * The pump starts on a later turn of the event loop, never inside `append`: an adapter whose write
   * is synchronous (SQLite) must not run in the caller's stack, and appends made meanwhile join the batch.
   */
  private schedulePump(): void {
    if (this.pumping || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.head < this.queue.length && !this.failure) {
        const batch = this.takeBatch();
        let bytes = 0;
        for (const e of batch) bytes += e.bytes;
        try {
          await this.backend.write(
            this.stream,
            batch.map((e) => e.record),
          );
          this.counters.appended += batch.length;
          this.metrics.appended.inc(this.labels, batch.length);
          for (const e of batch) {
            if (e.ticket && --e.ticket.remaining === 0) e.ticket.resolve();
          }
        } catch (e) {
          this.lastError = e instanceof Error ? e.message : String(e);
          if (this.policy === "block" || (isSluiceError(e) && e.code === "STREAM_BROKER_LOST"))
            this.fail(e, batch);
          else {
            this.counters.failed += batch.length;
            this.metrics.failed.inc(this.labels, batch.length);
          }
        } finally {
          this.heldRecords -= batch.length;
          this.heldBytes -= bytes;
          this.metrics.queued.dec(this.labels, batch.length);
          this.wakeNextWaiter();
        }
      }
    } finally {
      this.pumping = false;
      if (this.head >= this.queue.length) {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  private fail(cause: unknown, batch: Entry[]): void {
    this.failure =
      cause instanceof SluiceError
        ? cause
        : new SluiceError("STREAM_APPEND_FAILED", `append failed: ${this.lastError}`, {
            context: { stream: this.stream, url: this.backend.url },
            hint: "the records of the failed append were not all written; reopen the producer and append again",
            cause,
          });
    const rest = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    this.heldRecords -= rest.length;
    this.metrics.queued.dec(this.labels, rest.length);
    for (const e of rest) this.heldBytes -= e.bytes;
    const tickets = new Set<Ticket>();
    for (const e of [...batch, ...rest]) if (e.ticket) tickets.add(e.ticket);
    for (const t of tickets) t.reject(this.failure);
    this.counters.failed += batch.length + rest.length;
    this.metrics.failed.inc(this.labels, batch.length + rest.length);
    for (const w of this.roomWaiters.splice(0)) w();
  }

  async flush(): Promise<void> {
    if (this.head >= this.queue.length && !this.pumping && !this.scheduled) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): ProducerStats {
    return {
      policy: this.policy,
      ...this.counters,
      queued: this.heldRecords,
      queuedBytes: this.heldBytes,
      lastError: this.lastError,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
  }
}
