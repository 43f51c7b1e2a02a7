/**
 * What a broker adapter (RabbitMQ, NATS, Redis) reports when an append, a read or a commit fails: which
 * stream, how far this process got (records the broker confirmed, the last one's id and key; the
 * offsets it committed), and what to do. Most importantly for STREAM_BROKER_LOST, the broker gone for
 * longer than the reconnect budget: the stage restarts from exactly this checkpoint.
 */
import { messageOf, SluiceError } from "../core/errors.ts";

export interface ConfirmedSoFar {
  count: number;
  lastId: string | undefined;
  lastKey: string | undefined;
}

/** How errors name a broker and its acknowledgements. */
export interface BrokerWords {
  /** "RabbitMQ", "NATS", "Redis". */
  system: string;
  /** What the broker calls an acknowledged publish: "confirmed", "acknowledged". */
  confirmed: string;
  /** Where the broker says why it refused something. */
  logHint: string;
  /** What to look at when the broker fails an operation (STREAM_BROKER_ERROR). */
  errorHint: string;
}

/** The connection's error when the broker stayed away for the whole reconnect budget. */
export const isBrokerLost = (e: unknown): e is SluiceError =>
  e instanceof SluiceError && e.code === "STREAM_BROKER_LOST";

export class BrokerCheckpoints {
  /** Offsets this process committed, per stream and group. */
  private readonly committedHere = new Map<string, Map<string, number>>();

  private readonly system: string;
  private readonly confirmedWord: string;
  private readonly logHint: string;
  private readonly errorHint: string;

  constructor(
    private readonly url: string,
    broker: BrokerWords,
  ) {
    this.system = broker.system;
    this.confirmedWord = broker.confirmed;
    this.logHint = broker.logHint;
    this.errorHint = broker.errorHint;
  }

  /** The broker's error while doing something (a SluiceError passes through as it is). */
  wrap(e: unknown, doing: string, context: Record<string, unknown> = {}): SluiceError {
    if (e instanceof SluiceError) return e;
    return new SluiceError("STREAM_BROKER_ERROR", `${this.system} failed while ${doing}: ${messageOf(e)}`, {
      context: { url: this.url, ...context },
      hint: this.errorHint,
      cause: e,
    });
  }

  /**
   * Stores a group's committed offset with `write`: a failure is the commit error below (the offset the
   * group keeps), a success is noted for later errors on the stream.
   */
  async commit(stream: string, group: string, offset: number, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (e) {
      throw this.commitError(e, stream, group, offset);
    }
    this.noteCommitted(stream, group, offset);
  }

  private noteCommitted(stream: string, group: string, offset: number): void {
    const groups = this.committedHere.get(stream) ?? new Map<string, number>();
    groups.set(group, offset);
    this.committedHere.set(stream, groups);
  }

  /** The committed offsets this process stored for `stream`, as `group=offset`. */
  private committedText(stream: string): string | undefined {
    const groups = this.committedHere.get(stream);
    if (!groups || groups.size === 0) return undefined;
    return [...groups].map(([g, o]) => `${g}=${o}`).join(",");
  }

  lostWhileReading(e: unknown, stream: string, nextOffset: number | undefined): SluiceError {
    if (!isBrokerLost(e)) return this.wrap(e, "reading", { stream });
    const committed = this.committedText(stream);
    return new SluiceError(
      "STREAM_BROKER_LOST",
      `${e.message}; reading stream '${stream}'${nextOffset === undefined ? "" : ` at offset ${nextOffset}`}`,
      {
        context: { ...e.context, stream, nextOffset, committed },
        hint: `nothing after the committed offset${committed ? ` (${committed})` : ""} is lost: restart the consumer when ${this.system} is back and it resumes at committed + 1; ?reconnect= in the URL waits longer`,
        cause: e,
      },
    );
  }

  private commitError(e: unknown, stream: string, group: string, offset: number): SluiceError {
    if (!isBrokerLost(e))
      return this.wrap(e, "committing an offset", { stream, group, offset: String(offset) });
    const before = this.committedHere.get(stream)?.get(group);
    return new SluiceError(
      "STREAM_BROKER_LOST",
      `${e.message}; could not commit offset ${offset} of group '${group}' on stream '${stream}'`,
      {
        context: { ...e.context, stream, group, offset, committed: before },
        hint: `the group's committed offset stays ${before ?? "where it was"}: restart the consumer when ${this.system} is back and it resumes after it; ?reconnect= in the URL waits longer`,
        cause: e,
      },
    );
  }

  /** A failed append: what this process had confirmed on `stream`, how many of the append were not. */
  appendError(e: unknown, stream: string, confirmed: ConfirmedSoFar, unconfirmed: number): SluiceError {
    const word = this.confirmedWord;
    const sofar = `${confirmed.count} records of stream '${stream}' ${word} by this process${
      confirmed.lastId ? ` (the last: id ${confirmed.lastId}, key '${confirmed.lastKey ?? ""}')` : ""
    }; ${unconfirmed} records of the failed append not ${word}`;
    const context = {
      stream,
      confirmed: confirmed.count,
      lastConfirmedId: confirmed.lastId,
      lastConfirmedKey: confirmed.lastKey,
      unconfirmed,
    };
    if (isBrokerLost(e))
      return new SluiceError("STREAM_BROKER_LOST", `${e.message}; ${sofar}`, {
        context: { ...e.context, ...context },
        hint: `the records not ${word} were not appended: restart the stage from its checkpoint when ${this.system} is back; ?reconnect= in the URL waits longer`,
        cause: e,
      });
    return new SluiceError(
      "STREAM_APPEND_FAILED",
      `${this.system} did not ${word === "confirmed" ? "confirm" : "acknowledge"} records: ${messageOf(e)}; ${sofar}`,
      {
        context: { url: this.url, ...context },
        hint: `${this.logHint}; restart the stage from its checkpoint`,
        cause: e,
      },
    );
  }
}
