/**
 * The checkpoint a broker adapter reports when its server stays away past the reconnect budget: the
 * offsets this process committed, and the STREAM_BROKER_LOST errors of a read or a commit that say
 * where the stage stands and how it resumes.
 */
import { SluiceError } from "../core/errors.ts";

/** Offsets this process committed, per stream and group. */
export class CommittedHere {
  private readonly streams = new Map<string, Map<string, number>>();

  set(stream: string, group: string, offset: number): void {
    const groups = this.streams.get(stream) ?? new Map<string, number>();
    groups.set(group, offset);
    this.streams.set(stream, groups);
  }

  get(stream: string, group: string): number | undefined {
    return this.streams.get(stream)?.get(group);
  }

  /** `group=offset,...` for `stream`, or undefined when this process committed nothing there. */
  text(stream: string): string | undefined {
    const groups = this.streams.get(stream);
    if (!groups || groups.size === 0) return undefined;
    return [...groups].map(([g, o]) => `${g}=${o}`).join(",");
  }

  /** A read that failed for good (`lost`: the connection's STREAM_BROKER_LOST): the stream, offset, commits. */
  readLost(lost: SluiceError, stream: string, nextOffset: number | undefined, server: string): SluiceError {
    const committed = this.text(stream);
    return new SluiceError(
      "STREAM_BROKER_LOST",
      `${lost.message}; reading stream '${stream}'${nextOffset === undefined ? "" : ` at offset ${nextOffset}`}`,
      {
        context: { ...lost.context, stream, nextOffset, committed },
        hint: `nothing after the committed offset${committed ? ` (${committed})` : ""} is lost: restart the consumer when ${server} is back and it resumes at committed + 1; ?reconnect= in the URL waits longer`,
        cause: lost,
      },
    );
  }

  /** A commit that failed for good: the group's committed offset stays what this process last committed. */
  commitLost(lost: SluiceError, stream: string, group: string, offset: number, server: string): SluiceError {
    const before = this.get(stream, group);
    return new SluiceError(
      "STREAM_BROKER_LOST",
      `${lost.message}; could not commit offset ${offset} of group '${group}' on stream '${stream}'`,
      {
        context: { ...lost.context, stream, group, offset, committed: before },
        hint: `the group's committed offset stays ${before ?? "where it was"}: restart the consumer when ${server} is back and it resumes after it; ?reconnect= in the URL waits longer`,
        cause: lost,
      },
    );
  }
}

export const isBrokerLost = (e: unknown): e is SluiceError =>
  e instanceof SluiceError && e.code === "STREAM_BROKER_LOST";
