/**
 * A cursor over one JetStream stream: direct gets by sequence from the offset it is at, many in flight
 * at once, up to the head the stream info reports. Nothing is kept on the server for it, so a lost
 * connection costs nothing but the wait: the next read, on the new connection, starts at the offset
 * after the last record handed out. A read from an offset that retention removed starts at the first
 * offset kept. While nothing is there a waiting read is woken by a plain subscription to the stream's
 * subject (every append is published on it), checked against the stream info at least once a second;
 * the subscription is dropped as soon as records come, so a reader that is behind receives nothing twice.
 */
import type { Subscription } from "nats";
import { SluiceError } from "../core/errors.ts";
import { firstOffset, type NatsBackend } from "./nats.ts";
import { type NatsSession, subjectOf } from "./nats-connection.ts";
import type { RecordReader, StoredRecord } from "./types.ts";

/** Direct gets in flight at once. */
const MAX_IN_FLIGHT = 500;
/** A waiting read checks the stream info at least this often (wake-ups can be missed across a reconnect). */
const RECHECK_MS = 1000;

export class NatsReader implements RecordReader {
  /** The offset of the next record to hand out. */
  private at: number;
  /** The last offset the stream info reported (-1: none known). */
  private knownHead = -1;
  private open = true;
  private wake: (() => void) | undefined;
  private sub: { s: NatsSession; sub: Subscription } | undefined;

  constructor(
    private readonly backend: NatsBackend,
    readonly stream: string,
    start: number,
    private readonly prefetch: number,
  ) {
    this.at = start;
  }

  async next(max: number, waitMs: number): Promise<StoredRecord[]> {
    try {
      return await this.read(max, waitMs);
    } catch (e) {
      throw this.backend.lostWhileReading(e, this.stream, this.at);
    }
  }

  private async read(max: number, waitMs: number): Promise<StoredRecord[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (!this.open) return [];
      if (this.at > this.knownHead) await this.refresh();
      if (this.at <= this.knownHead) {
        const recs = await this.fetch(
          Math.min(max, this.prefetch, MAX_IN_FLIGHT, this.knownHead - this.at + 1),
        );
        if (recs.length > 0) {
          this.at = recs.at(-1)!.offset + 1;
          // Busy again: the subscription would deliver every appended message a second time.
          this.unsubscribe();
          return recs;
        }
        continue; // the head was trimmed meanwhile: refresh moved past it
      }
      const left = deadline - Date.now();
      if (left <= 0 || !this.open) return [];
      if (!(await this.subscribed())) continue; // just subscribed: check again before waiting
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, RECHECK_MS));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Takes the head and first offset from the stream info; moves a position retention removed to the first kept. */
  private async refresh(): Promise<void> {
    const info = await this.backend.streamInfo(this.stream);
    if (!info)
      throw new SluiceError("STREAM_NOT_FOUND", `the stream '${this.stream}' was deleted while reading`, {
        context: { url: this.backend.url, stream: this.stream },
      });
    this.knownHead = info.state.last_seq - 1;
    this.at = Math.max(this.at, firstOffset(info));
  }

  /** Up to `n` records from `this.at`, in order and without gaps; [] when the first was removed. */
  private async fetch(n: number): Promise<StoredRecord[]> {
    const from = this.at;
    const got = await this.backend.withSession((s) =>
      Promise.all(Array.from({ length: n }, (_, i) => this.backend.getRecord(s, this.stream, from + i))),
    );
    const out: StoredRecord[] = [];
    for (const r of got) {
      if (!r) break;
      out.push(r);
    }
    if (out.length < n) {
      // Missing from the middle of what the stream holds: retention removed it meanwhile, unless the
      // first offset kept is below it (a message deleted by hand, which `deny_delete` refuses).
      const missing = from + out.length;
      await this.refresh();
      if (out.length === 0 && this.at <= missing)
        throw new SluiceError(
          "STREAM_READ_FAILED",
          `offset ${missing} is missing from stream '${this.stream}'`,
          {
            context: { url: this.backend.url, stream: this.stream, offset: missing },
            hint: "a message was deleted from the JetStream stream by hand; read on from the next offset (seek)",
          },
        );
    }
    return out;
  }

  /** Whether the wake-up subscription is live on the current connection (subscribes when it is not). */
  private async subscribed(): Promise<boolean> {
    const s = await this.backend.link.ready();
    if (this.sub?.s === s) return true;
    this.unsubscribe();
    const sub = s.nc.subscribe(subjectOf(this.stream), { callback: () => this.wake?.() });
    this.sub = { s, sub };
    await s.nc.flush();
    return false;
  }

  private unsubscribe(): void {
    try {
      this.sub?.sub.unsubscribe();
    } catch {
      // The connection is gone: so is the subscription.
    }
    this.sub = undefined;
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.wake?.();
    this.unsubscribe();
  }
}
