/**
 * The stream log: the durable, ordered stream between Sluice's stages (capture -> replay,
 * binlog -> sinks). docs/stream-log.md is the long form of this comment.
 *
 * Model
 * - A log (opened by `openStreamLog(url)`) holds named streams. A stream is one ordered partition:
 *   records get offsets 0, 1, 2, ... in append order, so per-key order is the append order. Neither
 *   adapter partitions a stream today (RabbitMQ 3.10 has no super streams on AMQP 0-9-1); `partition`
 *   is in the record so that a partitioned adapter can be added without changing consumers.
 * - A record is {key, value (bytes), timestamp (ms since epoch), headers?}; a stored record adds its
 *   offset. Offsets are JavaScript integers (safe up to 2^53).
 * - Producers append batches under one of two policies:
 *   `block` never loses: `append` resolves only once every record is durable (SQLite transaction
 *   committed / RabbitMQ publisher confirm), waiting for queue capacity first; a failure rejects the
 *   call, and nothing is claimed appended that was not.
 *   `drop` never slows the caller: records go into a bounded in-memory queue (records and bytes)
 *   written in the background; what does not fit is dropped and counted in `stats().dropped`.
 * - Consumers belong to a named group. A consumer starts after the group's committed offset (or at
 *   `start` when the group has none) and reads in offset order. `commit(offset)` durably records
 *   that every record up to and including `offset` is done; after a crash the group resumes at
 *   committed + 1, so delivery is at-least-once and only uncommitted records are seen again.
 *   `lag()` = head - committed, where head is the offset of the last record.
 * - Retention by age and/or total size, applied by the adapter (SQLite: batched deletes of the
 *   oldest rows; RabbitMQ: x-max-age / x-max-length-bytes on the stream queue, segment granular).
 *
 * Adapters (the URL picks one): `file:PATH` = SQLite through better-sqlite3 in WAL mode;
 * `amqp://user:pass@host:port/STREAM` = RabbitMQ stream queues over AMQP 0-9-1 (amqplib; why not the
 * native stream protocol, and how committed offsets are kept: src/stream/rabbitmq.ts);
 * `nats://host:port/STREAM` = NATS JetStream streams (nats.js; offsets = sequences - 1, deduplicated
 * resends, committed offsets in a key-value bucket: src/stream/nats.ts).
 * `redis://host:port/STREAM` = Redis Streams with dense offsets as entry IDs (src/stream/redis.ts).
 * All implement `StreamBackend`; the policies, batching and consumer bookkeeping above it are shared
 * (src/stream/producer.ts, src/stream/consumer.ts, src/stream/log.ts).
 */

export type ProducerPolicy = "block" | "drop";

export interface StreamRecord {
  key: string;
  value: Uint8Array;
  /** Milliseconds since the epoch. */
  timestamp: number;
  headers?: Record<string, string>;
}

export interface StoredRecord extends StreamRecord {
  offset: number;
  partition: number;
  /**
   * The id the producer gave the record, the same on every copy of a record that was sent twice
   * (RabbitMQ re-sends what was unconfirmed when its connection dropped): `producer:sequence`.
   * Absent where the adapter never sends a record twice (SQLite).
   */
  id?: string;
}

/**
 * A stored record whose value was read as text: the same string as `Buffer.from(value).toString("utf8")`
 * (for values that are UTF-8 text, such as JSON); see `readText`.
 */
export interface StoredTextRecord extends Omit<StoredRecord, "value"> {
  value: string;
}

export interface RetentionOptions {
  /** Records older than this (by append time) may be deleted. */
  maxAgeMs?: number;
  /** The stream is kept at or below roughly this many bytes of record values. */
  maxBytes?: number;
}

export interface ProducerOptions {
  policy?: ProducerPolicy;
  /** Most records written in one transaction / confirm round (default 1000). */
  maxBatch?: number;
  /** Queue capacity in records (default 10000): `block` waits for room, `drop` drops beyond it. */
  maxQueuedRecords?: number;
  /** Queue capacity in bytes of values (default 64 MiB). */
  maxQueuedBytes?: number;
}

export interface ProducerStats {
  policy: ProducerPolicy;
  /** Records durably written. */
  appended: number;
  /** Records refused by the `drop` policy because the queue was full. */
  dropped: number;
  /** Records accepted by `drop` that could not be written (the log failed); see lastError. */
  failed: number;
  /** Records waiting in memory. */
  queued: number;
  queuedBytes: number;
  lastError: string | undefined;
}

export interface AppendResult {
  /** Records taken: durable (block) or queued (drop). */
  accepted: number;
  /** Records refused because the queue was full (drop only). */
  dropped: number;
}

export interface Producer {
  readonly stream: string;
  append(records: readonly StreamRecord[]): Promise<AppendResult>;
  /** Resolves when every queued record is written (or failed). */
  flush(): Promise<void>;
  stats(): ProducerStats;
  close(): Promise<void>;
}

/** Where a consumer group without a committed offset starts. */
export type StartPosition = "earliest" | "latest" | number;

export interface ConsumerOptions {
  /** Used when the group has no committed offset (default earliest). */
  start?: StartPosition;
  /** Records held in memory ahead of the application (default 1000). */
  prefetch?: number;
}

export interface ReadOptions {
  /** Consumer reads: start here instead of the current position (the same as seek, then read). */
  from?: number;
  /** At most this many records (default 1000). */
  max?: number;
  /** Wait up to this long for the first record (default 0: return what is there now). */
  waitMs?: number;
}

export interface Consumer extends AsyncIterable<StoredRecord> {
  readonly stream: string;
  readonly group: string;
  /** The offset the next read starts at. */
  position(): number;
  /** Moves the read position (does not commit). */
  seek(offset: number): Promise<void>;
  read(options?: ReadOptions): Promise<StoredRecord[]>;
  /** As read, with each value decoded as UTF-8 text (SQLite decodes in the database: no Buffer per value). */
  readText(options?: ReadOptions): Promise<StoredTextRecord[]>;
  /** Durably records that every record up to and including `offset` is done. */
  commit(offset: number): Promise<void>;
  committed(): Promise<number | undefined>;
  /** head - committed (records not yet committed). */
  lag(): Promise<number>;
  close(): Promise<void>;
}

export interface GroupInfo {
  group: string;
  committed: number | undefined;
  lag: number;
}

export interface StreamInfo {
  stream: string;
  exists: boolean;
  partitions: { partition: number; first: number | undefined; head: number | undefined }[];
  groups: GroupInfo[];
  retention: RetentionOptions;
}

export interface OpenOptions {
  /** Applied when a stream is created (RabbitMQ) or on every append (SQLite). */
  retention?: RetentionOptions;
  /** Connect timeout for brokers (default 5000 ms). */
  connectTimeoutMs?: number;
}

export interface StreamLog {
  readonly adapter: "sqlite" | "rabbitmq" | "nats" | "redis";
  /** The URL without secrets. */
  readonly url: string;
  /** The stream named by the URL, when it names one. */
  readonly defaultStream: string | undefined;
  producer(stream: string, options?: ProducerOptions): Promise<Producer>;
  consumer(stream: string, group: string, options?: ConsumerOptions): Promise<Consumer>;
  /** Reads without a group: up to `max` records from `from`, waiting up to waitMs for the first. */
  read(stream: string, from: number, options?: ReadOptions): Promise<StoredRecord[]>;
  /** As read, with each value decoded as UTF-8 text. */
  readText(stream: string, from: number, options?: ReadOptions): Promise<StoredTextRecord[]>;
  info(stream: string): Promise<StreamInfo>;
  streams(): Promise<string[]>;
  deleteStream(stream: string): Promise<void>;
  close(): Promise<void>;
}

/** What an adapter implements; the shared layer turns it into a StreamLog. */
export interface StreamBackend {
  readonly adapter: StreamLog["adapter"];
  readonly url: string;
  ensureStream(stream: string, retention: RetentionOptions): Promise<void>;
  /** Writes durably, in order; rejects if any record may not be durable. */
  write(stream: string, records: readonly StreamRecord[]): Promise<void>;
  openReader(stream: string, from: StartPosition, prefetch: number): Promise<RecordReader>;
  loadCommitted(stream: string, group: string): Promise<number | undefined>;
  storeCommitted(stream: string, group: string, offset: number): Promise<void>;
  bounds(stream: string): Promise<{ first: number | undefined; head: number | undefined; exists: boolean }>;
  groups(stream: string): Promise<string[]>;
  streams(): Promise<string[]>;
  retention(stream: string): Promise<RetentionOptions>;
  deleteStream(stream: string): Promise<void>;
  close(): Promise<void>;
}

/** A cursor over one stream in offset order. */
export interface RecordReader {
  /** Up to `max` records; waits up to waitMs for the first one, then returns what is there. */
  next(max: number, waitMs: number): Promise<StoredRecord[]>;
  /** As next, values as UTF-8 text; without it the shared layer decodes what `next` returns. */
  nextText?(max: number, waitMs: number): Promise<StoredTextRecord[]>;
  close(): Promise<void>;
}
