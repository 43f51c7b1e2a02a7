/**
 * The RabbitMQ adapter's connection: amqplib under the reconnecting link of src/stream/reconnect.ts
 * (exponential backoff within the `?reconnect=` budget, then STREAM_BROKER_LOST), plus the errors of a
 * first connection that fails (unreachable, refused login or vhost) and the broker's blocked/unblocked
 * notices, published as diagnostics events.
 */
import amqp from "amqplib";
import { messageOf, SluiceError } from "../core/errors.ts";
import { publishConnectionEvent } from "./diagnostics.ts";
import { type LinkDriver, ReconnectingLink } from "./reconnect.ts";
import { DEFAULT_HEARTBEAT_MS, type ReconnectPolicy } from "./url.ts";

export type ChannelModel = Awaited<ReturnType<typeof amqp.connect>>;

export interface RabbitTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  connectionName?: string;
  /** `?heartbeat=`; AMQP counts it in whole seconds, so it is rounded up (at least 1 s). */
  heartbeatMs?: number;
}

/** The RabbitMQ connection: a ReconnectingLink over amqplib (src/stream/reconnect.ts). */
export class RabbitConnection extends ReconnectingLink<ChannelModel> {
  /** The first connection is not retried: a wrong URL or a broker that is not there is reported at once. */
  static async open(
    url: string,
    target: RabbitTarget,
    connectTimeoutMs: number,
    policy: ReconnectPolicy,
  ): Promise<RabbitConnection> {
    let conn: ChannelModel;
    try {
      conn = await connectOnce(target, connectTimeoutMs);
    } catch (e) {
      throw connectError(e, url, target);
    }
    return new RabbitConnection(
      url,
      target.host,
      target.port,
      rabbitDriver(url, target),
      connectTimeoutMs,
      policy,
      conn,
    );
  }
}

function rabbitDriver(url: string, target: RabbitTarget): LinkDriver<ChannelModel> {
  const broker = `${target.host}:${target.port}`;
  return {
    system: "RabbitMQ",
    connect: (timeoutMs) => connectOnce(target, timeoutMs),
    close: (conn) => closeAmqp(conn),
    watch: (conn, lost) => {
      conn.on("error", () => {
        // The 'close' event that follows carries the same error; handled there.
      });
      conn.on("close", (err?: Error) => lost(err));
      conn.on("blocked", (reason: unknown) =>
        publishConnectionEvent({ event: "blocked", url, broker, reason: String(reason) }),
      );
      conn.on("unblocked", () => publishConnectionEvent({ event: "unblocked", url, broker }));
    },
  };
}

/** What `closeAmqp` needs: an amqplib channel or connection (both are event emitters). */
interface Closable {
  close(): Promise<void>;
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
}

/**
 * Closes an amqplib channel or connection, settling however the close ends. amqplib settles `close()`
 * only when the broker answers it with CloseOk: when the connection drops first (a broker restart, a
 * forced close, a cut network), that promise never settles, and a stage shutting down would wait
 * forever, or, with nothing else pending, Node would exit in the middle of the shutdown. amqplib emits
 * 'close' however the channel or connection closed, so this settles on whichever comes first. Never
 * rejects: what is closed is no longer used, and a close that failed leaves nothing to undo.
 */
export function closeAmqp(target: Closable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      target.off("close", done);
      resolve();
    };
    target.once("close", done);
    try {
      target.close().then(done, done);
    } catch {
      done();
    }
  });
}

function connectOnce(target: RabbitTarget, timeoutMs: number): Promise<ChannelModel> {
  return amqp.connect(
    {
      protocol: "amqp",
      hostname: target.host,
      port: target.port,
      username: target.username,
      password: target.password,
      vhost: target.vhost,
      // Two heartbeats without a frame from the broker and amqplib drops the connection: how a silent
      // network failure (no FIN, no reset) is noticed.
      heartbeat: Math.max(1, Math.ceil((target.heartbeatMs ?? DEFAULT_HEARTBEAT_MS) / 1000)),
    },
    {
      timeout: timeoutMs,
      clientProperties: { connection_name: target.connectionName ?? "sluice stream log" },
    },
  );
}

function connectError(e: unknown, url: string, target: RabbitTarget): SluiceError {
  const msg = messageOf(e);
  const errno = (e as { code?: unknown }).code;
  const where = { url, host: target.host, port: target.port };
  if (/ACCESS.REFUSED|403/.test(msg))
    return new SluiceError("STREAM_AUTH_FAILED", `RabbitMQ refused the login of user '${target.username}'`, {
      context: where,
      hint: "check the user and password in the URL (or SLUICE_AMQP_PASSWORD)",
      cause: e,
    });
  if (/ConnectionOpenOk|NOT_ALLOWED|530/.test(msg))
    return new SluiceError("STREAM_AUTH_FAILED", `RabbitMQ refused access to vhost '${target.vhost}'`, {
      context: where,
      hint: "check ?vhost= in the URL and the user's permissions (rabbitmqctl list_permissions)",
      cause: e,
    });
  return new SluiceError(
    "STREAM_UNREACHABLE",
    `cannot reach RabbitMQ at ${target.host}:${target.port}: ${typeof errno === "string" ? `${errno} ` : ""}${msg}`,
    {
      context: where,
      hint: "is RabbitMQ running and listening there? `bash scripts/run.sh setup` starts the local one",
      cause: e,
    },
  );
}
