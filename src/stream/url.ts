import { resolve } from "node:path";
import { SluiceError } from "../core/errors.ts";
import { redactUrl } from "../core/url.ts";

export type StreamTarget =
  | { kind: "sqlite"; path: string; stream: string | undefined; sync: "full" | "normal" }
  | {
      kind: "rabbitmq";
      host: string;
      port: number;
      username: string;
      password: string;
      vhost: string;
      stream: string | undefined;
      /** Only what the URL sets; the adapter fills in the rest from DEFAULT_RECONNECT. */
      reconnect?: Partial<ReconnectPolicy>;
      /** The client-provided connection name the broker shows (`?name=`). */
      connectionName?: string;
      /** `?heartbeat=`: the AMQP heartbeat (whole seconds, rounded up); absent = DEFAULT_HEARTBEAT_MS. */
      heartbeatMs?: number;
    }
  | {
      kind: "nats";
      host: string;
      port: number;
      /** Absent: no user/password authentication. */
      username?: string;
      password?: string;
      stream: string | undefined;
      /** Only what the URL sets; the adapter fills in the rest from DEFAULT_RECONNECT. */
      reconnect?: Partial<ReconnectPolicy>;
      /** The client name the server shows in its connection list (`?name=`). */
      connectionName?: string;
      /** `?heartbeat=`: the ping interval (two unanswered = lost); absent = DEFAULT_HEARTBEAT_MS. */
      heartbeatMs?: number;
    }
  | RedisStreamTarget;

/** `redis://` / `rediss://` (TLS): Redis Streams (src/stream/redis.ts). */
export interface RedisStreamTarget {
  kind: "redis";
  host: string;
  port: number;
  /** ACL user (Redis 6+); absent = the default user. */
  username: string | undefined;
  password: string | undefined;
  db: number;
  tls: boolean;
  stream: string | undefined;
  /** Prefix of every key the log uses (`?prefix=`, default `sluice`). */
  prefix: string;
  reconnect?: Partial<ReconnectPolicy>;
  /** The client name the server shows in CLIENT LIST (`?name=`). */
  connectionName?: string;
  /** `?heartbeat=`: the liveness check of every connection (redis-connection.ts); absent = DEFAULT_HEARTBEAT_MS. */
  heartbeatMs?: number;
  /** `?wait=N`: after each append and commit, WAIT for N replicas, up to `timeoutMs` (`?wait_timeout=`). */
  wait?: { replicas: number; timeoutMs: number };
}

/** How the broker adapters (RabbitMQ, NATS, Redis) reconnect after they lost their connection. */
export interface ReconnectPolicy {
  /** How long after the loss it keeps trying; 0 = never reconnect (fail at once). */
  budgetMs: number;
  /** The first wait before trying again; doubled after each failed attempt up to maxDelayMs. */
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { budgetMs: 60_000, minDelayMs: 500, maxDelayMs: 10_000 };

/**
 * How often a broker connection proves it is alive (`?heartbeat=`): the AMQP heartbeat, the NATS ping
 * interval, the Redis liveness check. A silent network failure (no FIN, no reset) is noticed after
 * about two of them; see docs/stream-log.md.
 */
export const DEFAULT_HEARTBEAT_MS = 10_000;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `30s`, `5m`, `1h`, or plain seconds -> milliseconds; undefined when malformed. */
function parseMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? "s"]!);
}

const EXAMPLES =
  "file:./sluice.db, file:/var/lib/sluice/log.db, amqp://guest:guest@127.0.0.1:5672/STREAM, nats://127.0.0.1:4222/STREAM or redis://127.0.0.1:6379/STREAM";

/** Stream names become table and queue names (a queue name holds 255 bytes with the group name): printable, short. */
const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$/;

export function checkStreamName(name: string, url: string): string {
  if (!STREAM_NAME.test(name))
    throw new SluiceError("USAGE_STREAM_NAME", `invalid stream name '${name}'`, {
      context: { url: redactUrl(url) },
      hint: "use letters, digits, '.', '_' or '-' (at most 120, starting with a letter or digit)",
    });
  return name;
}

/**
 * Parses a stream-log URL:
 * - `file:PATH` (relative to the working directory) or `file:///abs/path`; `?stream=NAME` names a stream,
 *   `?sync=normal` commits without fsync (default `full`).
 * - `amqp://user:pass@host:port/STREAM[?vhost=/]`: the path is the stream name (not the vhost, as it
 *   would be for plain AMQP), the vhost comes from `?vhost=` (default `/`). Without a password in the
 *   URL, SLUICE_AMQP_PASSWORD is used. After a lost connection the adapter reconnects:
 *   `?reconnect=60s` is how long it keeps trying (`0` = fail at once), `?backoff_min=500ms` and
 *   `?backoff_max=10s` bound the wait between attempts; `?heartbeat=10s` is how often the connection
 *   proves it is alive (a silent network failure is noticed after about two); `?name=` is the
 *   connection name the broker shows.
 * - `nats://[user[:pass]@]host[:4222]/STREAM`: NATS JetStream; the path is the stream name. A user
 *   without a password in the URL takes SLUICE_NATS_PASSWORD; no user = no authentication. The same
 *   `?reconnect=`, `?backoff_min=`, `?backoff_max=`, `?heartbeat=` and `?name=` as amqp URLs.
 * - `redis://[user:pass@]host:port/STREAM` (`rediss://` for TLS): Redis Streams; `?db=`, `?prefix=`,
 *   `?wait=N&wait_timeout=1s` and the reconnect and heartbeat options above (parseRedisUrl).
 */
export function parseStreamUrl(url: string, env: NodeJS.ProcessEnv = process.env): StreamTarget {
  const shown = redactUrl(url);
  const bad = (why: string) =>
    new SluiceError("USAGE_STREAM_URL", `bad stream-log URL: ${why}`, {
      context: { url: shown },
      hint: `use ${EXAMPLES}`,
    });
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (!scheme) throw bad("no scheme");
  if (scheme === "file") {
    const rest = url.slice("file:".length);
    const [pathPart = "", query = ""] = rest.split("?", 2);
    let path = pathPart.startsWith("//") ? pathPart.slice(2) : pathPart;
    if (pathPart.startsWith("//") && !path.startsWith("/")) throw bad("file URLs take no host");
    path = decodeURIComponent(path);
    if (!path) throw bad("no file path");
    const params = new URLSearchParams(query);
    const stream = params.get("stream") ?? undefined;
    const sync = params.get("sync") ?? "full";
    if (sync !== "full" && sync !== "normal") throw bad(`sync=${sync} (expected full or normal)`);
    return {
      kind: "sqlite",
      path: resolve(path),
      stream: stream === undefined ? undefined : checkStreamName(stream, url),
      sync,
    };
  }
  if (scheme === "amqp") {
    const { u, host, stream } = brokerUrl(url, bad);
    const port = u.port ? Number(u.port) : 5672;
    const password = u.password ? decodeURIComponent(u.password) : (env.SLUICE_AMQP_PASSWORD ?? "guest");
    const target: StreamTarget = {
      kind: "rabbitmq",
      host,
      port,
      username: u.username ? decodeURIComponent(u.username) : "guest",
      password,
      vhost: u.searchParams.get("vhost") ?? "/",
      stream,
    };
    Object.assign(target, brokerOptions(u, bad));
    return target;
  }
  if (scheme === "nats") {
    const { u, host, stream } = brokerUrl(url, bad);
    const target: StreamTarget = { kind: "nats", host, port: u.port ? Number(u.port) : 4222, stream };
    if (u.username) {
      target.username = decodeURIComponent(u.username);
      const password = u.password ? decodeURIComponent(u.password) : env.SLUICE_NATS_PASSWORD;
      if (password !== undefined) target.password = password;
    }
    return Object.assign(target, brokerOptions(u, bad));
  }
  if (scheme === "redis" || scheme === "rediss") return parseRedisUrl(url, env, bad);
  throw new SluiceError("USAGE_STREAM_URL", `unknown stream-log scheme '${scheme}:'`, {
    context: { url: shown },
    hint: `supported: file: (embedded SQLite), amqp: (RabbitMQ streams), nats: (NATS JetStream) and redis: (Redis Streams), e.g. ${EXAMPLES}`,
  });
}

/** A broker URL's parts: the host (IPv6 without brackets) and the stream named by the path. */
function brokerUrl(
  url: string,
  bad: (why: string) => SluiceError,
): { u: URL; host: string; stream: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad("not a URL");
  }
  if (!u.hostname) throw bad("no host");
  const stream = decodeURIComponent(u.pathname.replace(/^\//, ""));
  return {
    u,
    host: u.hostname.replace(/^\[|\]$/g, ""),
    stream: stream ? checkStreamName(stream, url) : undefined,
  };
}

/** The reconnect policy of a broker URL: what it sets, the rest from DEFAULT_RECONNECT. */
export function reconnectPolicy(fromUrl: Partial<ReconnectPolicy> | undefined): ReconnectPolicy {
  const policy: ReconnectPolicy = { ...DEFAULT_RECONNECT, ...fromUrl };
  policy.maxDelayMs = Math.max(policy.minDelayMs, policy.maxDelayMs);
  return policy;
}

/** What every broker URL may set. */
interface BrokerOptions {
  reconnect?: Partial<ReconnectPolicy>;
  connectionName?: string;
  heartbeatMs?: number;
}

/**
 * The options every broker URL takes: `?reconnect=`, `?backoff_min=`, `?backoff_max=`, `?heartbeat=`,
 * `?name=`.
 */
function brokerOptions(u: URL, bad: (why: string) => SluiceError): BrokerOptions {
  const out: BrokerOptions = {};
  const reconnect: Partial<ReconnectPolicy> = {};
  for (const [param, field] of [
    ["reconnect", "budgetMs"],
    ["backoff_min", "minDelayMs"],
    ["backoff_max", "maxDelayMs"],
  ] as const) {
    const text = u.searchParams.get(param);
    if (text === null) continue;
    const ms = parseMs(text);
    if (ms === undefined) throw bad(`${param}=${text} (expected a duration such as 500ms, 30s or 5m)`);
    reconnect[field] = ms;
  }
  if ((reconnect.minDelayMs ?? 1) <= 0 || (reconnect.maxDelayMs ?? 1) <= 0)
    throw bad("backoff_min and backoff_max must be above 0");
  if (Object.keys(reconnect).length > 0) out.reconnect = reconnect;
  const heartbeat = u.searchParams.get("heartbeat");
  if (heartbeat !== null) {
    const ms = parseMs(heartbeat);
    if (ms === undefined || ms <= 0)
      throw bad(`heartbeat=${heartbeat} (expected a duration above 0, such as 500ms, 10s or 1m)`);
    out.heartbeatMs = ms;
  }
  const name = u.searchParams.get("name");
  if (name) out.connectionName = name;
  return out;
}

/** Key prefixes: no glob characters (keys are listed with SCAN MATCH), no braces (hash tags). */
const KEY_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * `redis://[user:pass@]host[:port]/STREAM[?db=N&prefix=sluice&wait=N&wait_timeout=1s&...]`, `rediss://`
 * for TLS. As for amqp:, the path is the stream name; the database number is `?db=` (default 0).
 * Without a password in the URL, SLUICE_REDIS_PASSWORD is used (none when unset).
 */
function parseRedisUrl(url: string, env: NodeJS.ProcessEnv, bad: (why: string) => SluiceError): StreamTarget {
  const { u, host, stream } = brokerUrl(url, bad);
  const params = u.searchParams;
  const db = Number(params.get("db") ?? "0");
  if (!Number.isInteger(db) || db < 0)
    throw bad(`db=${params.get("db")} (expected a database number, 0 to 15)`);
  const prefix = params.get("prefix") ?? "sluice";
  if (!KEY_PREFIX.test(prefix))
    throw bad(
      `prefix=${prefix} (letters, digits, '.', '_', ':' or '-', at most 64, starting with a letter or digit)`,
    );
  const name = params.get("name");
  if (name && !/^[!-~]+$/.test(name)) throw bad(`name=${name} (a Redis client name has no spaces)`);
  const target: RedisStreamTarget = {
    kind: "redis",
    host,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : env.SLUICE_REDIS_PASSWORD || undefined,
    db,
    tls: u.protocol === "rediss:",
    stream,
    prefix,
    ...brokerOptions(u, bad),
  };
  const wait = params.get("wait");
  if (wait !== null) {
    const replicas = Number(wait);
    if (!Number.isInteger(replicas) || replicas < 0)
      throw bad(`wait=${wait} (expected a number of replicas)`);
    const timeoutText = params.get("wait_timeout") ?? "1s";
    const timeoutMs = parseMs(timeoutText);
    if (timeoutMs === undefined || timeoutMs <= 0)
      throw bad(`wait_timeout=${timeoutText} (expected a duration above 0, such as 500ms or 2s)`);
    if (replicas > 0) target.wait = { replicas, timeoutMs };
  }
  return target;
}
