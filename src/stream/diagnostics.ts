/**
 * What the stream log reports while it works around a broker that went away. The library does not
 * log: it publishes these events on a diagnostics channel, and the CLI prints them
 * (`logStreamConnectionEvents`). Each event says what happened, where (URL without password, broker
 * address) and what to do.
 */
import { channel } from "node:diagnostics_channel";

export type StreamConnectionEvent = (
  | {
      event: "lost";
      url: string;
      broker: string;
      reason: string;
      /** How long the adapter keeps trying (0: it does not, the log fails now). */
      budgetMs: number;
      /** Records sent but not confirmed: they are sent again after the reconnect. */
      unconfirmed: number;
    }
  | {
      event: "retry";
      url: string;
      broker: string;
      attempt: number;
      reason: string;
      nextDelayMs: number;
      remainingMs: number;
    }
  | { event: "reconnected"; url: string; broker: string; attempt: number; downMs: number; resent: number }
  | { event: "gave-up"; url: string; broker: string; attempts: number; downMs: number; reason: string }
  | { event: "blocked"; url: string; broker: string; reason: string }
  | { event: "unblocked"; url: string; broker: string }
  | {
      event: "durability";
      url: string;
      broker: string;
      /** What an acknowledged write survives, from the server's persistence settings (Redis). */
      survives: "power-loss" | "process-crash" | "nothing-certain";
      detail: string;
    }
) & {
  /** The server named in messages (default RabbitMQ). */
  system?: string;
};

export const streamConnectionChannel = channel("sluice:stream:connection");

export function publishConnectionEvent(e: StreamConnectionEvent): void {
  if (streamConnectionChannel.hasSubscribers) streamConnectionChannel.publish(e);
}

interface EventLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The broker's product name, from the URL's scheme. */
const SYSTEMS: Record<string, string> = { amqp: "RabbitMQ", nats: "NATS", redis: "Redis" };
const systemOf = (url: string) => SYSTEMS[/^([a-z]+):/i.exec(url)?.[1]?.toLowerCase() ?? ""] ?? "the broker";

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;

/** Prints the stream log's connection events through `logger`; returns the unsubscribe function. */
export function logStreamConnectionEvents(logger: EventLogger): () => void {
  const onEvent = (message: unknown) => {
    const e = message as StreamConnectionEvent;
    const where = `${e.system ?? systemOf(e.url)} at ${e.broker} (${e.url})`;
    switch (e.event) {
      case "lost":
        if (e.budgetMs === 0) return; // the failure itself is the error the caller reports
        logger.warn(
          { ...e, hint: "check that the broker is running and reachable; ?reconnect= sets how long to wait" },
          `lost the connection to ${where}: ${e.reason}; reconnecting for up to ${seconds(e.budgetMs)}, ${e.unconfirmed} unconfirmed records will be sent again`,
        );
        return;
      case "retry":
        logger.warn(
          { ...e, hint: "start the broker or restore the network; nothing is lost while it retries" },
          `cannot reconnect to ${where} (attempt ${e.attempt}): ${e.reason}; ${
            e.remainingMs > 0
              ? `next try in ${seconds(Math.min(e.nextDelayMs, e.remainingMs))}, giving up in ${seconds(e.remainingMs)}`
              : "no time left for another try"
          }`,
        );
        return;
      case "reconnected":
        logger.info(
          e,
          `reconnected to ${where} after ${seconds(e.downMs)} (attempt ${e.attempt}); ${e.resent} unconfirmed records sent again`,
        );
        return;
      case "gave-up":
        logger.error(
          {
            ...e,
            hint: "restart the stage when the broker is back: it resumes from its checkpoint; ?reconnect= waits longer",
          },
          `gave up reconnecting to ${where} after ${seconds(e.downMs)} and ${e.attempts} attempts: ${e.reason}`,
        );
        return;
      case "blocked":
        logger.warn(
          { ...e, hint: "the broker is short of memory or disk (rabbitmq-diagnostics alarms); appends wait" },
          `${where} blocks publishing: ${e.reason}`,
        );
        return;
      case "unblocked":
        logger.info(e, `${where} accepts publishing again`);
        return;
      case "durability":
        if (e.survives === "power-loss") logger.info(e, `${where}: ${e.detail}`);
        else
          logger.warn(
            {
              ...e,
              hint: "for writes that survive a power loss set appendonly yes and appendfsync always (docs/stream-log.md)",
            },
            `${where}: ${e.detail}`,
          );
        return;
    }
  };
  streamConnectionChannel.subscribe(onEvent);
  return () => streamConnectionChannel.unsubscribe(onEvent);
}
