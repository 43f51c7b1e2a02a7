/**
 * The NATS adapter: each Sluice stream is a JetStream stream `sluice-<name>` (file storage, limits
 * retention, discard old) on the subject `sluice.<name>` (names escaped: '.' -> `_d`, '_' -> `_u`,
 * since JetStream stream names take no '.').
 *
 * - Offsets: offset = JetStream sequence - 1. Sequences are dense as long as no single message is
 *   deleted, so the stream is created with `deny_delete` (the message-delete API is refused); a
 *   rejected or deduplicated publish takes no sequence. Retention (`max_age`, `max_bytes`) removes
 *   whole messages from the head: the first sequence moves up, no offset changes, and a read from a
 *   removed offset starts at the first one kept (as on SQLite).
 * - Durable writes: a record counts as written when JetStream acknowledged it (the ack comes after
 *   the write to the stream's file store). A batch is published asynchronously and every ack awaited;
 *   each record carries `Nats-Msg-Id: <producer>:<sequence>`, so a record sent again after a reconnect
 *   (it was unacknowledged at the loss) is recognised by JetStream's duplicate window and not stored
 *   twice: its ack names the sequence of the first copy. The duplicate window is set to the reconnect
 *   budget plus a minute (at least two minutes) so that every resend falls inside it.
 * - Reads: direct gets (`allow_direct`) by sequence, pipelined, from the offset asked for; the head
 *   comes from the stream info, so "what is there now" is exact. A waiting reader is woken by a plain
 *   subscription to the stream's subject (no server-side consumer is kept for it).
 * - Committed offsets: the key-value bucket `sluice-offsets` (file storage, one revision kept), key
 *   `<name>.<group>`; the bucket's keys list the groups.
 * Records: the key in the `Sluice-Key` header (URI-encoded), the timestamp in `Sluice-Ts` (ms), user
 * headers as JSON in `Sluice-Headers`, the record id in `Nats-Msg-Id`.
 */
import { randomBytes } from "node:crypto";
import {
  DiscardPolicy,
  type StreamInfo as JsStreamInfo,
  type KV,
  type MsgHdrs,
  nanos,
  headers as natsHeaders,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
  type StreamConfig,
} from "nats";
import { SluiceError } from "../core/errors.ts";
import { BrokerCheckpoints, type BrokerWords, type ConfirmedSoFar } from "./checkpoint.ts";
import {
  escapeName,
  jsStreamName,
  NatsLink,
  type NatsSession,
  type NatsTarget,
  STREAM_PREFIX,
  SUBJECT_PREFIX,
  subjectOf,
  unescapeName,
} from "./nats-connection.ts";
import { NatsReader } from "./nats-reader.ts";
import type {
  RecordReader,
  RetentionOptions,
  StartPosition,
  StoredRecord,
  StreamBackend,
  StreamRecord,
} from "./types.ts";
import { type ReconnectPolicy, reconnectPolicy } from "./url.ts";

const OFFSETS_BUCKET = "sluice-offsets";
const KEY_HEADER = "Sluice-Key";
const TS_HEADER = "Sluice-Ts";
const USER_HEADERS = "Sluice-Headers";
const MSG_ID_HEADER = "Nats-Msg-Id";
/** How long one publish waits for its ack while the connection stays up. */
const PUBLISH_TIMEOUT_MS = 10_000;
/** Publish rounds with failures while the connection stayed up before the append fails. */
const MAX_ROUNDS_UP = 3;
/** An admin operation interrupted by a lost connection is run again after the reconnect, this often. */
const MAX_OPERATION_ATTEMPTS = 5;
/** JetStream API error codes. */
const STREAM_NOT_FOUND = 10059;

const offsetKey = (stream: string, group: string) => `${escapeName(stream)}.${group}`;

/** nats.js has the direct-get API on its manager but not in the manager's interface. */
type JetStreamManagerImpl = NatsSession["jsm"] & {
  direct: { getMessage(stream: string, query: { seq: number }): Promise<StoredMsg> };
};

const apiCode = (e: unknown): number | undefined =>
  (e as { api_error?: { err_code?: number } }).api_error?.err_code;
export const natsCode = (e: unknown): string => String((e as { code?: unknown }).code ?? "");

interface Outgoing {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
  id: string;
  key: string;
  /** The JetStream sequence its ack named. */
  seq: number | undefined;
}

const WORDS: BrokerWords = {
  system: "NATS",
  confirmed: "acknowledged",
  logHint:
    "see the nats-server log for the reason (a record above max_payload, 1 MiB by default, is refused)",
  errorHint: "see the nats-server log for the reason (`nats-server -js` must run with JetStream on)",
};

export class NatsBackend implements StreamBackend {
  readonly adapter = "nats" as const;
  /** Unique per opened log: the first half of every record id. */
  private readonly producerId = randomBytes(6).toString("hex");
  private nextSeq = 1;
  private inFlight = 0;
  private readonly ensured = new Set<string>();
  private readonly confirmedByStream = new Map<string, ConfirmedSoFar>();
  /** What errors report: the offsets this process committed, the records it had acknowledged. */
  private readonly checkpoints: BrokerCheckpoints;
  private kvCache: { epoch: number; kv: Promise<KV> } | undefined;

  private constructor(
    readonly url: string,
    readonly link: NatsLink,
  ) {
    link.unconfirmed = () => this.inFlight;
    this.checkpoints = new BrokerCheckpoints(url, WORDS);
  }

  static async open(
    url: string,
    target: NatsTarget & { reconnect?: Partial<ReconnectPolicy> },
    connectTimeoutMs = 5000,
  ): Promise<NatsBackend> {
    return new NatsBackend(
      url,
      await NatsLink.open(url, target, connectTimeoutMs, reconnectPolicy(target.reconnect)),
    );
  }

  /**
   * Whether `s` was lost (then waits until the link has seen it). nats.js fails pending requests
   * before it reports its connection closed: without the wait, a retry would get the dead session again.
   */
  async lost(s: NatsSession): Promise<boolean> {
    if (!s.nc.isClosed()) return false;
    await s.nc.closed();
    return true;
  }

  /**
   * Runs `fn` on the live session; while the connection is down it waits, and interrupted by a lost
   * connection it runs again on the next one (every caller's `fn` can be repeated).
   */
  async withSession<T>(fn: (s: NatsSession) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.link.check();
      const s = await this.link.ready();
      try {
        return await fn(s);
      } catch (e) {
        if (!(await this.lost(s)) || attempt >= MAX_OPERATION_ATTEMPTS || this.link.closed) throw e;
      }
    }
  }

  wrap(e: unknown, doing: string, context: Record<string, string> = {}): SluiceError {
    return this.checkpoints.wrap(e, doing, context);
  }

  private noStream(stream: string): SluiceError {
    return new SluiceError(
      "STREAM_NOT_FOUND",
      `no stream '${stream}' (JetStream stream '${jsStreamName(stream)}')`,
      {
        context: { url: this.url, stream },
        hint: "a producer creates it; check the name",
      },
    );
  }

  lostWhileReading(e: unknown, stream: string, nextOffset: number | undefined): SluiceError {
    return this.checkpoints.lostWhileReading(e, stream, nextOffset);
  }

  /** A failed append: which stream, what this process had acknowledged, what to do. */
  private appendError(e: unknown, stream: string, unconfirmed: number): SluiceError {
    if (e instanceof SluiceError && e.code === "STREAM_NOT_FOUND") return e;
    const confirmed = this.confirmedByStream.get(stream) ?? {
      count: 0,
      lastId: undefined,
      lastKey: undefined,
    };
    return this.checkpoints.appendError(e, stream, confirmed, unconfirmed);
  }

  /** The stream's info, or undefined when there is no such stream. */
  async streamInfo(stream: string): Promise<JsStreamInfo | undefined> {
    try {
      return await this.withSession((s) => s.jsm.streams.info(jsStreamName(stream)));
    } catch (e) {
      if (apiCode(e) === STREAM_NOT_FOUND) return undefined;
      throw e;
    }
  }

  async ensureStream(stream: string, retention: RetentionOptions): Promise<void> {
    if (this.ensured.has(stream)) return;
    const name = jsStreamName(stream);
    const limits: Partial<StreamConfig> = {
      max_age: retention.maxAgeMs === undefined ? 0 : nanos(Math.max(1, retention.maxAgeMs)),
      max_bytes: retention.maxBytes === undefined ? -1 : Math.max(1, Math.floor(retention.maxBytes)),
    };
    try {
      const info = await this.streamInfo(stream);
      if (!info) {
        await this.withSession((s) =>
          s.jsm.streams.add({
            name,
            subjects: [subjectOf(stream)],
            description: `Sluice stream '${stream}'`,
            storage: StorageType.File,
            retention: RetentionPolicy.Limits,
            discard: DiscardPolicy.Old,
            num_replicas: 1,
            ...limits,
            duplicate_window: duplicateWindow(limits, this.link.policy.budgetMs),
            allow_direct: true,
            deny_delete: true,
          }),
        );
      } else if (
        (retention.maxAgeMs !== undefined || retention.maxBytes !== undefined) &&
        (info.config.max_age !== limits.max_age || info.config.max_bytes !== limits.max_bytes)
      ) {
        // As on SQLite: a retention given when opening an existing stream replaces the stored one.
        const duplicate_window = duplicateWindow(limits, this.link.policy.budgetMs);
        await this.withSession((s) =>
          s.jsm.streams.update(name, { ...info.config, ...limits, duplicate_window }),
        );
      }
    } catch (e) {
      throw this.wrap(e, "creating the stream", { stream, jetstream: name });
    }
    this.ensured.add(stream);
  }

  /**
   * Resolves once JetStream acknowledged every record. Records are published asynchronously and their
   * acks awaited together; what was not acknowledged (the connection dropped) is published again, in
   * order and with the same `Nats-Msg-Id`, after the reconnect: a copy JetStream had already stored is
   * recognised as a duplicate and acknowledged with the first copy's sequence.
   */
  async write(stream: string, records: readonly StreamRecord[]): Promise<void> {
    try {
      this.link.check();
    } catch (e) {
      throw this.appendError(e, stream, records.length);
    }
    const subject = subjectOf(stream);
    const items: Outgoing[] = records.map((r) => {
      const h = natsHeaders();
      h.set(KEY_HEADER, encodeURIComponent(r.key));
      h.set(TS_HEADER, String(r.timestamp));
      if (r.headers && Object.keys(r.headers).length > 0)
        h.set(USER_HEADERS, encodeURIComponent(JSON.stringify(r.headers)));
      return {
        subject,
        data: r.value,
        headers: h,
        id: `${this.producerId}:${this.nextSeq++}`,
        key: r.key,
        seq: undefined,
      };
    });
    let pending = items;
    this.inFlight += items.length;
    try {
      for (let roundsUp = 0; pending.length > 0; ) {
        let s: NatsSession;
        try {
          s = await this.link.ready();
        } catch (e) {
          throw this.appendError(e, stream, pending.length);
        }
        const js = s.nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS });
        const results = await Promise.allSettled(
          pending.map((it) =>
            js.publish(it.subject, it.data, {
              msgID: it.id,
              headers: it.headers,
              expect: { streamName: jsStreamName(stream) },
            }),
          ),
        );
        const failed: Outgoing[] = [];
        let error: unknown;
        results.forEach((res, i) => {
          const it = pending[i]!;
          if (res.status === "fulfilled") {
            it.seq = res.value.seq;
            this.inFlight--;
          } else {
            failed.push(it);
            error ??= res.reason;
          }
        });
        pending = failed;
        if (failed.length === 0 || (await this.lost(s))) continue;
        // The connection stayed up: an answer from the server, not a network failure.
        if (natsCode(error) === "503" && !(await this.streamInfo(stream))) throw this.noStream(stream);
        if (++roundsUp >= MAX_ROUNDS_UP) throw this.appendError(error, stream, pending.length);
        // A server just restarted may answer before its JetStream is ready: give it a moment.
        await new Promise((r) => setTimeout(r, 250 * roundsUp));
      }
    } finally {
      this.inFlight -= pending.length;
    }
    // One connection at a time, each resend in order after what its connection acknowledged: the
    // sequences follow the records. Checked, since the per-key order depends on it.
    for (let i = 1; i < items.length; i++)
      if (items[i]!.seq! <= items[i - 1]!.seq!)
        throw this.appendError(
          new Error(
            `records were stored out of order (id ${items[i]!.id} at sequence ${items[i]!.seq}, before id ${items[i - 1]!.id} at ${items[i - 1]!.seq})`,
          ),
          stream,
          0,
        );
    const confirmed = this.confirmedByStream.get(stream) ?? {
      count: 0,
      lastId: undefined,
      lastKey: undefined,
    };
    const last = items.at(-1);
    confirmed.count += items.length;
    if (last) {
      confirmed.lastId = last.id;
      confirmed.lastKey = last.key;
    }
    this.confirmedByStream.set(stream, confirmed);
  }

  async openReader(stream: string, from: StartPosition, prefetch: number): Promise<RecordReader> {
    this.link.check();
    let info: JsStreamInfo | undefined;
    try {
      info = await this.streamInfo(stream);
    } catch (e) {
      throw this.lostWhileReading(e, stream, typeof from === "number" ? from : undefined);
    }
    if (!info) throw this.noStream(stream);
    const start = from === "earliest" ? firstOffset(info) : from === "latest" ? info.state.last_seq : from;
    return new NatsReader(this, stream, start, prefetch);
  }

  /** The record at `offset`, or undefined when it is not (or no longer) in the stream. */
  async getRecord(s: NatsSession, stream: string, offset: number): Promise<StoredRecord | undefined> {
    try {
      return toRecord(
        await (s.jsm as JetStreamManagerImpl).direct.getMessage(jsStreamName(stream), { seq: offset + 1 }),
      );
    } catch (e) {
      if (natsCode(e) === "404") return undefined;
      throw e;
    }
  }

  /** The bucket of committed offsets on the current connection (created on first use). */
  private offsets(s: NatsSession): Promise<KV> {
    const epoch = this.link.epoch;
    if (this.kvCache?.epoch !== epoch) {
      const kv = s.nc.jetstream().views.kv(OFFSETS_BUCKET, { history: 1, storage: StorageType.File });
      kv.catch(() => {
        if (this.kvCache?.kv === kv) this.kvCache = undefined;
      });
      this.kvCache = { epoch, kv };
    }
    return this.kvCache.kv;
  }

  async loadCommitted(stream: string, group: string): Promise<number | undefined> {
    try {
      const entry = await this.withSession(async (s) =>
        (await this.offsets(s)).get(offsetKey(stream, group)),
      );
      if (entry?.operation !== "PUT") return undefined;
      return Number(entry.string());
    } catch (e) {
      throw this.wrap(e, "reading a committed offset", { stream, group });
    }
  }

  async storeCommitted(stream: string, group: string, offset: number): Promise<void> {
    // A put is a JetStream publish (acknowledged once stored); one interrupted by a lost connection
    // is put again: the latest commit wins.
    await this.checkpoints.commit(stream, group, offset, () =>
      this.withSession(async (s) => (await this.offsets(s)).put(offsetKey(stream, group), String(offset))),
    );
  }

  async bounds(
    stream: string,
  ): Promise<{ first: number | undefined; head: number | undefined; exists: boolean }> {
    let info: JsStreamInfo | undefined;
    try {
      info = await this.streamInfo(stream);
    } catch (e) {
      throw this.wrap(e, "reading the stream's bounds", { stream });
    }
    if (!info) return { first: undefined, head: undefined, exists: false };
    const { messages, first_seq, last_seq } = info.state;
    return {
      first: messages > 0 ? first_seq - 1 : undefined,
      head: last_seq > 0 ? last_seq - 1 : undefined,
      exists: true,
    };
  }

  async groups(stream: string): Promise<string[]> {
    const prefix = `${escapeName(stream)}.`;
    try {
      return await this.withSession(async (s) => {
        const names: string[] = [];
        for await (const key of await (await this.offsets(s)).keys(`${prefix}>`))
          names.push(key.slice(prefix.length));
        return names.sort();
      });
    } catch (e) {
      throw this.wrap(e, "listing the groups", { stream });
    }
  }

  async streams(): Promise<string[]> {
    try {
      return await this.withSession(async (s) => {
        const names: string[] = [];
        for await (const name of s.jsm.streams.names(`${SUBJECT_PREFIX}>`))
          if (name.startsWith(STREAM_PREFIX)) names.push(unescapeName(name.slice(STREAM_PREFIX.length)));
        return names.sort();
      });
    } catch (e) {
      throw this.wrap(e, "listing the streams");
    }
  }

  async retention(stream: string): Promise<RetentionOptions> {
    const info = await this.streamInfo(stream).catch((e: unknown) => {
      throw this.wrap(e, "reading the retention", { stream });
    });
    const out: RetentionOptions = {};
    if (info && info.config.max_age > 0) out.maxAgeMs = Math.round(info.config.max_age / 1e6);
    if (info && info.config.max_bytes > 0) out.maxBytes = info.config.max_bytes;
    return out;
  }

  async deleteStream(stream: string): Promise<void> {
    const groups = await this.groups(stream);
    try {
      await this.withSession(async (s) => {
        const kv = await this.offsets(s);
        for (const g of groups) await kv.purge(offsetKey(stream, g));
        try {
          await s.jsm.streams.delete(jsStreamName(stream));
        } catch (e) {
          if (apiCode(e) !== STREAM_NOT_FOUND) throw e;
        }
      });
    } catch (e) {
      throw this.wrap(e, "deleting the stream", { stream });
    }
    this.ensured.delete(stream);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}

/**
 * The first offset in the stream, or the next one to be written when it is empty: JetStream reports
 * first_seq 0 for a stream never written to, and last_seq + 1 for one emptied by retention.
 */
export function firstOffset(info: JsStreamInfo): number {
  return info.state.messages > 0 ? info.state.first_seq - 1 : info.state.last_seq;
}

/**
 * The duplicate window: long enough for every resend after a reconnect (the budget plus a minute, at
 * least JetStream's default of 2 minutes), but JetStream wants it no longer than the stream's max age.
 */
function duplicateWindow(limits: Partial<StreamConfig>, budgetMs: number): number {
  const wanted = nanos(Math.max(120_000, budgetMs + 60_000));
  return limits.max_age ? Math.min(wanted, limits.max_age) : wanted;
}

function toRecord(m: StoredMsg): StoredRecord {
  const h = m.header;
  const rec: StoredRecord = {
    offset: m.seq - 1,
    partition: 0,
    key: decodeURIComponent(h.get(KEY_HEADER)),
    value: m.data,
    timestamp: Number(h.get(TS_HEADER) || 0),
  };
  const user = h.get(USER_HEADERS);
  if (user) rec.headers = JSON.parse(decodeURIComponent(user)) as Record<string, string>;
  const id = h.get(MSG_ID_HEADER);
  if (id) rec.id = id;
  return rec;
}
