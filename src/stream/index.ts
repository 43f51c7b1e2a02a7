import { redactUrl } from "../core/url.ts";
import { BackendStreamLog } from "./log.ts";
import { NatsBackend } from "./nats.ts";
import { RabbitBackend } from "./rabbitmq.ts";
import { RedisBackend } from "./redis.ts";
import { SqliteBackend } from "./sqlite.ts";
import type { OpenOptions, StreamLog } from "./types.ts";
import { parseStreamUrl } from "./url.ts";

export type * from "./types.ts";
export { parseStreamUrl } from "./url.ts";

/**
 * Opens the stream log named by `url`: `file:PATH[?stream=NAME][&sync=normal]` (embedded SQLite)
 * or `amqp://user:pass@host:port/STREAM[?vhost=V]` (RabbitMQ stream queues),
 * `nats://[user:pass@]host:port/STREAM` (NATS JetStream) or
 * `redis://[user:pass@]host:port/STREAM[?db=N]` (Redis Streams). Throws a SluiceError
 * naming the URL (password redacted) when it is malformed, the scheme is unknown or the broker
 * cannot be reached.
 */
export async function openStreamLog(url: string, options: OpenOptions = {}): Promise<StreamLog> {
  const target = parseStreamUrl(url);
  if (target.kind === "sqlite") {
    // A file URL has no secret, and URL normalization would turn file:./x.db into file:///x.db.
    return new BackendStreamLog(
      SqliteBackend.open(url, target.path, { sync: target.sync }),
      target.stream,
      options,
    );
  }
  if (target.kind === "redis") {
    const redis = await RedisBackend.open(redactUrl(url), target, options.connectTimeoutMs);
    return new BackendStreamLog(redis, target.stream, options);
  }
  if (target.kind === "nats") {
    const backend = await NatsBackend.open(redactUrl(url), target, options.connectTimeoutMs);
    return new BackendStreamLog(backend, target.stream, options);
  }
  const backend = await RabbitBackend.open(redactUrl(url), target, options.connectTimeoutMs);
  return new BackendStreamLog(backend, target.stream, options);
}
