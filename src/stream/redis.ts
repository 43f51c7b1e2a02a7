/**
 * The Redis adapter: each Sluice stream is a Redis stream (XADD / XRANGE / XREAD), spoken to with ioredis.
 *
 * Keys, for `?prefix=P` (default `sluice`) and stream S; the `{S}` hash tag keeps one stream's keys
 * together, so each Lua script touches one hash slot:
 * - `P:{S}:log`: the Redis stream. The record at offset N has the entry ID `1-N` (`0-0` is not a valid
 *   ID, so the milliseconds part is the constant 1 and the sequence part is the offset): offsets are
 *   dense, and `XRANGE P:{S}:log 1-200 +` reads from offset 200.
 * - `P:{S}:meta`: a hash: `next` (the offset the next record gets), `bytes` (value bytes retained),
 *   `max_age_ms` / `max_bytes` (retention), `created`, `age_checked`.
 * - `P:{S}:groups`: a hash, consumer group -> committed offset.
 * - `P:{S}:producer:<id>`: a hash of the batches one opened log wrote to S: `last` (the latest batch
 *   sequence) and, for the latest 64, sequence -> first offset; it expires a day after its last write.
 *   It is what makes a batch sent again after a lost reply a no-op.
 * - `P:streams`: a set of the stream names (for `streams()`).
 *
 * An append is one Lua script (APPEND below): it checks the producer's batch sequence, gives the
 * records the offsets `next`, `next+1`, ... with explicit IDs, advances `next`, applies retention, all
 * atomically: concurrent producers in any number of processes never interleave inside a batch, and a
 * batch is in the log entirely or not at all. ioredis sends again what was unanswered when the
 * connection dropped (redis-connection.ts); the script finds the batch's sequence already recorded and
 * writes nothing, so a batch whose reply was lost is never written twice.
 *
 * Retention runs inside the append script: while the retained value bytes exceed `max_bytes`, or the
 * oldest record was appended more than `max_age_ms` ago (looked at most once a second), the oldest
 * records are removed (XTRIM MINID, exact), at most 10 000 per append. The head offset never moves back;
 * `first` is the oldest record still there.
 */
import { randomBytes } from "node:crypto";
import { messageOf, SluiceError } from "../core/errors.ts";
import { BrokerCheckpoints, type BrokerWords, isBrokerLost } from "./checkpoint.ts";
import { publishConnectionEvent } from "./diagnostics.ts";
import { RedisConnection, type RedisTarget } from "./redis-connection.ts";
import type {
  RecordReader,
  RetentionOptions,
  StartPosition,
  StoredRecord,
  StreamBackend,
  StreamRecord,
} from "./types.ts";
import { DEFAULT_RECONNECT, type ReconnectPolicy, type RedisStreamTarget } from "./url.ts";

/** How long a producer's last batch sequence is kept for recognising a re-sent batch. */
const PRODUCER_TTL_MS = 24 * 3_600_000;
// (A batch that needs it is re-sent within the reconnect budget; the TTL is at least twice that.)

/** How many of a producer's latest batches the append script remembers (batch sequence -> first offset). */
const WINDOW = 64;

const APPEND = `
local WINDOW = ${WINDOW}
local log, meta, producer = KEYS[1], KEYS[2], KEYS[3]
local seq, now, ttl, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local nxt = redis.call('HGET', meta, 'next')
if not nxt then return {-1, 0, 0} end
local lseq = tonumber(redis.call('HGET', producer, 'last') or '0')
if seq <= lseq then
  local done = redis.call('HGET', producer, ARGV[1])
  if done then return {0, tonumber(done), 0} end
  return {-2, lseq, 0}
end
local off = tonumber(nxt)
local first = off
local bytes = 0
for i = 0, n - 1 do
  local b = 5 + i * 4
  local id = '1-' .. string.format('%d', off)
  if ARGV[b + 3] == '' then
    redis.call('XADD', log, id, 'k', ARGV[b], 'v', ARGV[b + 1], 't', ARGV[b + 2], 'a', ARGV[2])
  else
    redis.call('XADD', log, id, 'k', ARGV[b], 'v', ARGV[b + 1], 't', ARGV[b + 2], 'a', ARGV[2], 'h', ARGV[b + 3])
  end
  bytes = bytes + string.len(ARGV[b + 1])
  off = off + 1
end
redis.call('HSET', meta, 'next', string.format('%d', off))
local total = redis.call('HINCRBY', meta, 'bytes', bytes)
redis.call('HSET', producer, 'last', ARGV[1], ARGV[1], string.format('%d', first))
redis.call('HDEL', producer, string.format('%d', seq - WINDOW))
redis.call('PEXPIRE', producer, ttl)
local maxBytes = tonumber(redis.call('HGET', meta, 'max_bytes') or '')
local maxAge = tonumber(redis.call('HGET', meta, 'max_age_ms') or '')
local checkAge = false
if maxAge then
  local checked = tonumber(redis.call('HGET', meta, 'age_checked') or '0')
  if now - checked >= 1000 then
    checkAge = true
    redis.call('HSET', meta, 'age_checked', ARGV[2])
  end
end
local trimmed = 0
if (maxBytes and total > maxBytes) or checkAge then
  local from = '-'
  local cut = nil
  local freed = 0
  local done = false
  while not done and trimmed < 10000 do
    local entries = redis.call('XRANGE', log, from, '+', 'COUNT', 100)
    if #entries == 0 then break end
    for _, e in ipairs(entries) do
      local f = e[2]
      local v, a = '', 0
      for i = 1, #f, 2 do
        if f[i] == 'v' then v = f[i + 1] elseif f[i] == 'a' then a = tonumber(f[i + 1]) end
      end
      local old = checkAge and a < now - maxAge
      local excess = maxBytes and (total - freed) > maxBytes
      if not old and not excess then done = true break end
      cut = e[1]
      freed = freed + string.len(v)
      trimmed = trimmed + 1
    end
    if cut then from = '(' .. cut end
  end
  if cut then
    local c = tonumber(string.match(cut, '^1%-(%d+)$'))
    redis.call('XTRIM', log, 'MINID', '1-' .. string.format('%d', c + 1))
    redis.call('HINCRBY', meta, 'bytes', -freed)
  end
end
return {1, first, trimmed}
`;

type AppendReply = [status: number, first: number, trimmed: number];

interface ScriptedClient {
  sluiceAppend(
    log: string,
    meta: string,
    producer: string,
    ...args: (string | Buffer)[]
  ): Promise<AppendReply>;
}

/** What an acknowledged write survives on this server, from its persistence settings. */
export interface RedisDurability {
  survives: "power-loss" | "process-crash" | "nothing-certain";
  detail: string;
  replicas: number;
}

type Entry = [id: Buffer, fields: Buffer[]];

/** How errors name Redis and its acknowledgements (the checkpoint errors shared with the other brokers). */
const WORDS: BrokerWords = {
  system: "Redis",
  confirmed: "acknowledged",
  logHint: "see the Redis log",
  errorHint: "see the Redis log (redis-cli INFO, the server's logfile) for the reason",
};

/** The offset in an entry ID `1-N`. */
const offsetOf = (id: Buffer | string): number => Number(String(id).slice(2));

function toRecord(entry: Entry): StoredRecord {
  const [id, fields] = entry;
  const rec: StoredRecord = {
    offset: offsetOf(id),
    partition: 0,
    key: "",
    value: Buffer.alloc(0),
    timestamp: 0,
  };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString("latin1");
    const v = fields[i + 1]!;
    if (name === "v") rec.value = v;
    else if (name === "k") rec.key = v.toString("utf8");
    else if (name === "t") rec.timestamp = Number(v.toString("latin1"));
    else if (name === "h") rec.headers = JSON.parse(v.toString("utf8")) as Record<string, string>;
  }
  return rec;
}

export class RedisBackend implements StreamBackend {
  readonly adapter = "redis" as const;
  /** Random per opened log: with the batch sequence it identifies a batch across re-sends. */
  private readonly producerId = randomBytes(8).toString("hex");
  private readonly sequences = new Map<string, number>();
  private inflight = 0;
  /** What this process had acknowledged per stream: reported when the server is gone for good. */
  private readonly acked = new Map<string, { count: number; lastOffset: number; lastKey: string }>();
  /** Offsets this process committed, and the errors that report them when Redis is gone for good. */
  private readonly checkpoints: BrokerCheckpoints;

  private constructor(
    readonly url: string,
    readonly connection: RedisConnection,
    private readonly target: RedisStreamTarget,
    readonly durability: RedisDurability,
  ) {
    connection.unconfirmed = () => this.inflight;
    connection.client.defineCommand("sluiceAppend", { numberOfKeys: 3, lua: APPEND });
    this.checkpoints = new BrokerCheckpoints(url, WORDS);
  }

  static async open(url: string, target: RedisStreamTarget, connectTimeoutMs = 5000): Promise<RedisBackend> {
    const policy: ReconnectPolicy = { ...DEFAULT_RECONNECT, ...target.reconnect };
    policy.maxDelayMs = Math.max(policy.minDelayMs, policy.maxDelayMs);
    const connTarget: RedisTarget = {
      host: target.host,
      port: target.port,
      username: target.username,
      password: target.password,
      db: target.db,
      tls: target.tls,
      ...(target.connectionName ? { connectionName: target.connectionName } : {}),
      ...(target.heartbeatMs ? { heartbeatMs: target.heartbeatMs } : {}),
    };
    const connection = await RedisConnection.open(url, connTarget, connectTimeoutMs, policy);
    let durability: RedisDurability;
    try {
      durability = await persistence(connection, target);
    } catch (e) {
      await connection.close();
      throw e;
    }
    publishConnectionEvent({
      event: "durability",
      system: "Redis",
      url,
      broker: connection.broker,
      survives: durability.survives,
      detail: durability.detail,
    });
    return new RedisBackend(url, connection, target, durability);
  }

  private key(stream: string, part: "log" | "meta" | "groups"): string {
    return `${this.target.prefix}:{${stream}}:${part}`;
  }

  private get index(): string {
    return `${this.target.prefix}:streams`;
  }

  private get client() {
    return this.connection.client;
  }

  private run<T>(command: Promise<T>): Promise<T> {
    return this.connection.run(command);
  }

  wrap(e: unknown, doing: string, context: Record<string, unknown> = {}): SluiceError {
    return this.checkpoints.wrap(e, doing, context);
  }

  private noStream(stream: string): SluiceError {
    return new SluiceError("STREAM_NOT_FOUND", `no stream '${stream}'`, {
      context: { url: this.url, stream, key: this.key(stream, "log") },
      hint: "it was deleted, or never created; a producer creates it (check ?prefix= and ?db= in the URL)",
    });
  }

  /** After each write: WAIT for `?wait=N` replicas; an error when fewer acknowledged in time. */
  private async waitReplicas(what: string, context: Record<string, unknown>): Promise<void> {
    const wait = this.target.wait;
    if (!wait) return;
    const got = Number(
      await this.connection.run(this.client.wait(wait.replicas, wait.timeoutMs), wait.timeoutMs),
    );
    if (got < wait.replicas)
      throw new SluiceError(
        "STREAM_APPEND_FAILED",
        `${what} is on the Redis primary at ${this.connection.broker}, but only ${got} of ${wait.replicas} replicas acknowledged it within ${wait.timeoutMs} ms`,
        {
          context: { url: this.url, ...context, replicas: got, wanted: wait.replicas },
          hint: "check the replicas (redis-cli INFO replication); lower ?wait= or raise ?wait_timeout= in the URL",
        },
      );
  }

  async ensureStream(stream: string, retention: RetentionOptions): Promise<void> {
    const meta = this.key(stream, "meta");
    const tx = this.client
      .multi()
      .hsetnx(meta, "next", 0)
      .hsetnx(meta, "bytes", 0)
      .hsetnx(meta, "created", Date.now())
      .sadd(this.index, stream);
    // A retention given when opening an existing stream replaces the stored one (as with SQLite).
    if (retention.maxAgeMs !== undefined || retention.maxBytes !== undefined) {
      tx.hdel(meta, "max_age_ms", "max_bytes");
      if (retention.maxAgeMs !== undefined) tx.hset(meta, "max_age_ms", Math.round(retention.maxAgeMs));
      if (retention.maxBytes !== undefined) tx.hset(meta, "max_bytes", Math.round(retention.maxBytes));
    }
    try {
      await this.run(tx.exec());
    } catch (e) {
      throw this.wrap(e, "creating the stream", { stream });
    }
  }

  /** One atomic script per batch; a batch sent again after a lost reply is recognised and skipped. */
  async write(stream: string, records: readonly StreamRecord[]): Promise<void> {
    const seq = (this.sequences.get(stream) ?? 0) + 1;
    this.sequences.set(stream, seq);
    const args: (string | Buffer)[] = [
      String(seq),
      String(Date.now()),
      String(Math.max(PRODUCER_TTL_MS, 2 * this.connection.policy.budgetMs)),
      String(records.length),
    ];
    for (const r of records) {
      const value = Buffer.isBuffer(r.value)
        ? r.value
        : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      args.push(r.key, value, String(r.timestamp), r.headers ? JSON.stringify(r.headers) : "");
    }
    const producerKey = `${this.target.prefix}:{${stream}}:producer:${this.producerId}`;
    this.inflight += records.length;
    let reply: AppendReply;
    try {
      reply = await this.run(
        (this.client as unknown as ScriptedClient).sluiceAppend(
          this.key(stream, "log"),
          this.key(stream, "meta"),
          producerKey,
          ...args,
        ),
      );
    } catch (e) {
      throw this.appendError(e, stream, records.length);
    } finally {
      this.inflight -= records.length;
    }
    const [status, first] = reply;
    if (status === -1) throw this.noStream(stream);
    if (status === -2)
      // Batches of one log run in the order they were sent (one connection, re-sent in order), so a
      // batch older than the last one written was written too; this one was not: refuse, never drop.
      throw new SluiceError(
        "STREAM_APPEND_FAILED",
        `Redis received batch ${seq} of this producer after batch ${first} and had not written it; the append is refused rather than put out of order`,
        {
          context: { url: this.url, stream, producer: this.producerId, batch: seq, last: first },
          hint: "no record of this batch was written; restart the stage from its checkpoint",
        },
      );
    const last = records.at(-1);
    if (first >= 0 && last) {
      await this.waitReplicas(`the append of offsets ${first}..${first + records.length - 1}`, { stream });
      const a = this.acked.get(stream) ?? { count: 0, lastOffset: -1, lastKey: "" };
      a.count += records.length;
      a.lastOffset = first + records.length - 1;
      a.lastKey = last.key;
      this.acked.set(stream, a);
    }
  }

  /** A failed append: which stream, what this process had acknowledged, what to do. */
  private appendError(e: unknown, stream: string, unconfirmed: number): SluiceError {
    const a = this.acked.get(stream);
    const sofar = `${a?.count ?? 0} records of stream '${stream}' acknowledged to this process${
      a ? ` (the last at offset ${a.lastOffset}, key '${a.lastKey}')` : ""
    }; the ${unconfirmed} records of the failed append were not acknowledged`;
    const context = {
      stream,
      acknowledged: a?.count ?? 0,
      lastOffset: a?.lastOffset,
      lastKey: a?.lastKey,
      unconfirmed,
    };
    if (isBrokerLost(e))
      return new SluiceError("STREAM_BROKER_LOST", `${e.message}; ${sofar}`, {
        context: { ...e.context, ...context },
        hint: "the records not acknowledged may or may not be in the stream: restart the stage from its checkpoint when Redis is back; ?reconnect= in the URL waits longer",
        cause: e,
      });
    if (e instanceof SluiceError) return e;
    return new SluiceError("STREAM_APPEND_FAILED", `Redis refused the append: ${messageOf(e)}; ${sofar}`, {
      context: { url: this.url, ...context },
      hint: /OOM/.test(messageOf(e))
        ? "Redis is out of memory (maxmemory): set a retention (maxBytes / maxAgeMs) or raise maxmemory; nothing of the batch was written"
        : "nothing of the failed batch was written (the script is atomic); see the Redis log, then restart the stage from its checkpoint",
      cause: e,
    });
  }

  /** Records from offset `from`, up to `max`, without waiting. */
  async range(stream: string, from: number, max: number): Promise<StoredRecord[]> {
    const entries = (await this.run(
      this.client.xrangeBuffer(this.key(stream, "log"), `1-${from}`, "+", "COUNT", max),
    )) as unknown as Entry[];
    return entries.map(toRecord);
  }

  /**
   * Waits up to waitMs on `conn` (a reader's own connection) for records from offset `from`. Each
   * XREAD blocks for at most a heartbeat, so a silent connection is noticed within about two of them
   * however long the wait (redis-connection.ts).
   */
  async readBlocking(
    conn: RedisConnection,
    stream: string,
    from: number,
    max: number,
    waitMs: number,
  ): Promise<StoredRecord[]> {
    const after = from === 0 ? "0-0" : `1-${from - 1}`;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const block = Math.max(1, Math.ceil(Math.min(deadline - Date.now(), conn.heartbeatMs)));
      const reply = (await conn.run(
        conn.client.xreadBuffer("COUNT", max, "BLOCK", block, "STREAMS", this.key(stream, "log"), after),
        block,
      )) as unknown as [Buffer, Entry[]][] | null;
      const recs = (reply?.[0]?.[1] ?? []).map(toRecord);
      if (recs.length > 0 || Date.now() >= deadline) return recs;
    }
  }

  lostWhileReading(e: unknown, stream: string, nextOffset: number): SluiceError {
    return this.checkpoints.lostWhileReading(e, stream, nextOffset);
  }

  async openReader(stream: string, from: StartPosition): Promise<RecordReader> {
    const b = await this.bounds(stream);
    if (!b.exists) throw this.noStream(stream);
    const start =
      from === "earliest" ? (b.first ?? (b.head ?? -1) + 1) : from === "latest" ? (b.head ?? -1) + 1 : from;
    return new RedisReader(this, stream, start);
  }

  async loadCommitted(stream: string, group: string): Promise<number | undefined> {
    try {
      const v = await this.run(this.client.hget(this.key(stream, "groups"), group));
      return v === null ? undefined : Number(v);
    } catch (e) {
      throw this.wrap(e, "reading a committed offset", { stream, group });
    }
  }

  async storeCommitted(stream: string, group: string, offset: number): Promise<void> {
    await this.checkpoints.commit(stream, group, offset, async () => {
      await this.run(this.client.hset(this.key(stream, "groups"), group, offset));
      await this.waitReplicas(`the commit of offset ${offset} of group '${group}'`, { stream, group });
    });
  }

  async bounds(
    stream: string,
  ): Promise<{ first: number | undefined; head: number | undefined; exists: boolean }> {
    let replies: [Error | null, unknown][] | null;
    try {
      // One transaction: the head and the oldest entry from the same moment.
      replies = await this.run(
        this.client
          .multi()
          .hget(this.key(stream, "meta"), "next")
          .xrange(this.key(stream, "log"), "-", "+", "COUNT", 1)
          .exec(),
      );
    } catch (e) {
      throw this.wrap(e, "reading the stream's bounds", { stream });
    }
    const next = replies?.[0]?.[1] as string | null | undefined;
    if (next === null || next === undefined) return { first: undefined, head: undefined, exists: false };
    const oldest = (replies?.[1]?.[1] as [string, string[]][] | undefined)?.[0];
    const n = Number(next);
    return { first: oldest ? offsetOf(oldest[0]) : undefined, head: n > 0 ? n - 1 : undefined, exists: true };
  }

  async groups(stream: string): Promise<string[]> {
    return (await this.run(this.client.hkeys(this.key(stream, "groups")))).sort();
  }

  async streams(): Promise<string[]> {
    return (await this.run(this.client.smembers(this.index))).sort();
  }

  async retention(stream: string): Promise<RetentionOptions> {
    const [age, bytes] = await this.run(
      this.client.hmget(this.key(stream, "meta"), "max_age_ms", "max_bytes"),
    );
    const r: RetentionOptions = {};
    if (age !== null && age !== undefined) r.maxAgeMs = Number(age);
    if (bytes !== null && bytes !== undefined) r.maxBytes = Number(bytes);
    return r;
  }

  async deleteStream(stream: string): Promise<void> {
    try {
      const producers: string[] = [];
      let cursor = "0";
      do {
        const [nextCursor, keys] = await this.run(
          this.client.scan(cursor, "MATCH", `${this.target.prefix}:{${stream}}:producer:*`, "COUNT", 1000),
        );
        cursor = nextCursor;
        producers.push(...keys);
      } while (cursor !== "0");
      await this.run(
        this.client
          .multi()
          .unlink(this.key(stream, "log"), this.key(stream, "meta"), this.key(stream, "groups"), ...producers)
          .srem(this.index, stream)
          .exec(),
      );
    } catch (e) {
      throw this.wrap(e, "deleting the stream", { stream });
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * A cursor from an offset: XRANGE on the shared connection for what is there; when nothing is and the
 * caller waits, XREAD BLOCK on a connection of its own (opened on the first wait), since a blocked
 * command holds its connection.
 */
class RedisReader implements RecordReader {
  private blocking: RedisConnection | undefined;
  private open = true;

  constructor(
    private readonly backend: RedisBackend,
    private readonly stream: string,
    private pos: number,
  ) {}

  async next(max: number, waitMs: number): Promise<StoredRecord[]> {
    if (!this.open) return [];
    let recs: StoredRecord[];
    try {
      recs = await this.backend.range(this.stream, this.pos, max);
      if (recs.length === 0 && waitMs > 0) {
        this.blocking ??= this.backend.connection.duplicate();
        recs = await this.backend.readBlocking(this.blocking, this.stream, this.pos, max, waitMs);
      }
    } catch (e) {
      if (!this.open) return [];
      throw this.backend.lostWhileReading(e, this.stream, this.pos);
    }
    const last = recs.at(-1);
    if (last) this.pos = last.offset + 1;
    return recs;
  }

  async close(): Promise<void> {
    this.open = false;
    const conn = this.blocking;
    this.blocking = undefined;
    await conn?.close();
  }
}

/** Reads the server's persistence settings: what an acknowledged write survives. */
async function persistence(conn: RedisConnection, target: RedisStreamTarget): Promise<RedisDurability> {
  const client = conn.client;
  let aof: boolean | undefined;
  let fsync: string | undefined;
  let save: string | undefined;
  try {
    const got = (await conn.run(client.config("GET", "appendonly"))) as string[];
    aof = got[1] === "yes";
    fsync = ((await conn.run(client.config("GET", "appendfsync"))) as string[])[1];
    save = ((await conn.run(client.config("GET", "save"))) as string[])[1];
  } catch {
    // CONFIG may be renamed or forbidden (managed services): INFO persistence says whether AOF is on.
    const info = await conn.run(client.info("persistence"));
    aof = /aof_enabled:1/.test(info);
  }
  const replInfo = await conn.run(client.info("replication"));
  const replicas = Number(/connected_slaves:(\d+)/.exec(replInfo)?.[1] ?? 0);
  let survives: RedisDurability["survives"];
  let detail: string;
  if (aof && fsync === "always") {
    survives = "power-loss";
    detail =
      "appendonly yes, appendfsync always: an acknowledged append is fsynced to the AOF before Redis answers; it survives a crash of Redis or of its host";
  } else if (aof) {
    survives = "process-crash";
    detail = `appendonly yes, appendfsync ${fsync ?? "(unknown: CONFIG GET refused)"}: an acknowledged append is written to the AOF but not fsynced; it survives a crash of Redis, but a power loss or crash of the host may lose the last ${fsync === "no" ? "appends the OS has not flushed (up to ~30 s on Linux)" : "second or two of appends"}`;
  } else {
    survives = "nothing-certain";
    detail = save
      ? `appendonly no, RDB snapshots only (save ${save}): an acknowledged append lives in memory until the next snapshot; a restart or crash of Redis loses what was appended since the last one`
      : `appendonly no${save === "" ? ' and no snapshots (save "")' : ""}: an acknowledged append lives in memory only; a restart or crash of Redis loses the whole log`;
  }
  if (target.wait)
    detail += `; each append and commit also waits for ${target.wait.replicas} of ${replicas} connected replicas (?wait=)`;
  else if (replicas > 0)
    detail += `; ${replicas} replicas connected, not waited for (?wait=${replicas} makes appends wait for them)`;
  return { survives, detail, replicas };
}
