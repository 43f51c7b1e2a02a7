/**
 * The NATS adapter's connection: nats.js with its own reconnecting turned off, under the reconnecting
 * link of src/stream/reconnect.ts (the same `?reconnect=` budget, backoff and diagnostics events as
 * RabbitMQ). Each reconnect is a new nats.js connection: what was sent on the old one and not
 * acknowledged is sent again by the adapter, in order, and nothing nats.js buffered for the old one is
 * sent behind it (which could put a later record before an earlier one). A ping every `?heartbeat=`
 * (default 10 s), two unanswered, detects a silent network failure in two to three heartbeats
 * (nats.js's default is 2 minutes each).
 */
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { messageOf, SluiceError } from "../core/errors.ts";
import { type LinkDriver, ReconnectingLink } from "./reconnect.ts";
import { DEFAULT_HEARTBEAT_MS, type ReconnectPolicy } from "./url.ts";

export interface NatsTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  connectionName?: string;
  /** `?heartbeat=`: the ping interval. */
  heartbeatMs?: number;
}

/** A live connection and its JetStream manager (which checked that JetStream is enabled). */
export interface NatsSession {
  nc: NatsConnection;
  jsm: JetStreamManager;
}

/** Unanswered pings after which nats.js takes the connection as lost. */
const MAX_PINGS_OUT = 2;

export const STREAM_PREFIX = "sluice-";
export const SUBJECT_PREFIX = "sluice.";
/** A Sluice stream name as a JetStream name part (JetStream stream names take no '.'): '.' -> `_d`, '_' -> `_u`. */
export const escapeName = (stream: string) => stream.replace(/[._]/g, (c) => (c === "." ? "_d" : "_u"));
export const unescapeName = (name: string) =>
  name.replace(/_([du])/g, (_, c: string) => (c === "d" ? "." : "_"));
export const jsStreamName = (stream: string) => `${STREAM_PREFIX}${escapeName(stream)}`;
export const subjectOf = (stream: string) => `${SUBJECT_PREFIX}${escapeName(stream)}`;

export class NatsLink extends ReconnectingLink<NatsSession> {
  /** The first connection is not retried: a wrong URL or a server that is not there is reported at once. */
  static async open(
    url: string,
    target: NatsTarget,
    connectTimeoutMs: number,
    policy: ReconnectPolicy,
  ): Promise<NatsLink> {
    let session: NatsSession;
    try {
      session = await connectOnce(target, connectTimeoutMs);
    } catch (e) {
      throw connectError(e, url, target);
    }
    const driver: LinkDriver<NatsSession> = {
      system: "NATS",
      connect: (timeoutMs) => connectOnce(target, timeoutMs),
      close: (s) => s.nc.close(),
      watch: (s, lost) => {
        // nats.js closes without an error both when the server closed the connection and when its
        // pings went unanswered (its status iterator says which, but only after the close is reported).
        const heartbeatS = (target.heartbeatMs ?? DEFAULT_HEARTBEAT_MS) / 1000;
        void s.nc
          .closed()
          .then((err) =>
            lost(
              err ??
                new Error(
                  `the connection closed: the server closed it, or ${MAX_PINGS_OUT} pings (heartbeat ${heartbeatS}s) went unanswered`,
                ),
            ),
          );
      },
    };
    return new NatsLink(url, target.host, target.port, driver, connectTimeoutMs, policy, session);
  }
}

async function connectOnce(target: NatsTarget, timeoutMs: number): Promise<NatsSession> {
  const nc = await connect({
    servers: `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`,
    name: target.connectionName ?? "sluice stream log",
    timeout: timeoutMs,
    reconnect: false,
    pingInterval: target.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    maxPingOut: MAX_PINGS_OUT,
    ...(target.username === undefined ? {} : { user: target.username }),
    ...(target.password === undefined ? {} : { pass: target.password }),
  });
  try {
    // Asks for the account's JetStream info: fails when JetStream is not enabled.
    const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
    return { nc, jsm };
  } catch (e) {
    await nc.close().catch(() => {});
    throw e;
  }
}

function connectError(e: unknown, url: string, target: NatsTarget): SluiceError {
  const msg = messageOf(e);
  const code = String((e as { code?: unknown }).code ?? "");
  const where = { url, host: target.host, port: target.port };
  if (/AUTHORIZATION_VIOLATION|BAD_AUTHENTICATION|AUTHENTICATION/.test(code))
    return new SluiceError(
      "STREAM_AUTH_FAILED",
      `NATS refused the login${target.username ? ` of user '${target.username}'` : ""}: ${msg}`,
      {
        context: where,
        hint: "check the user and password in the URL (or SLUICE_NATS_PASSWORD)",
        cause: e,
      },
    );
  if (code === "503" || /jetstream/i.test(msg))
    return new SluiceError(
      "STREAM_UNREACHABLE",
      `NATS at ${target.host}:${target.port} answers but has no JetStream: ${msg}`,
      {
        context: where,
        hint: "start nats-server with JetStream on (-js, or a jetstream {} block in its config)",
        cause: e,
      },
    );
  return new SluiceError("STREAM_UNREACHABLE", `cannot reach NATS at ${target.host}:${target.port}: ${msg}`, {
    context: where,
    hint: "is nats-server running with JetStream (-js) and listening there? `bash scripts/run.sh setup` starts the local one",
    cause: e,
  });
}
