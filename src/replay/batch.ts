/**
 * When a replay from the stream log writes its progress (the journal of executed commands, the group's
 * committed position): `intervalMs` after the first completed command of a batch, or at once when half
 * of `maxCommands` are waiting, whichever comes first; always at the end of the run and before it exits
 * on SIGINT/SIGTERM. Completed commands never wait unwritten beyond `maxCommands` (a session waits
 * instead); `maxCommands: 1` writes (and waits for) every command on its own.
 */
export interface BatchOptions {
  /** Longest a completed command waits to be written, ms (> 0). */
  intervalMs: number;
  /** Most completed commands unwritten (>= 1); a write starts when half of them are waiting. */
  maxCommands: number;
}

export const DEFAULT_BATCH: Readonly<BatchOptions> = { intervalMs: 100, maxCommands: 1000 };

/**
 * Collects items and writes them in batches (see BatchOptions); writes run one at a time, in the order
 * the items were added. A write starts once half of `maxCommands` items wait (so at a steady rate it
 * is done before the other half comes), or `intervalMs` after the first. `add` returns at once while
 * fewer than `maxCommands` items are unwritten, and otherwise a promise of its own item written: so at
 * most `maxCommands - 1` items whose `add` has returned are unwritten at any time. A failed write fails
 * every later `add` and `flush`.
 */
export class Batcher<T> {
  private buffer: T[] = [];
  private inFlight = 0;
  private chain: Promise<void> = Promise.resolve();
  /** The write waiting behind the one in progress (it takes the buffer when it starts). */
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly options: BatchOptions,
    private readonly write: (items: T[]) => Promise<void>,
  ) {}

  /** Items added and not written yet. */
  get unwritten(): number {
    return this.buffer.length + this.inFlight;
  }

  /** Undefined when the item may wait (nothing to await: most calls, so no promise is made for them). */
  add(item: T): Promise<void> | undefined {
    this.check();
    this.buffer.push(item);
    if (this.unwritten >= this.options.maxCommands) return this.writeNow().then(() => this.check());
    if (this.buffer.length >= Math.ceil(this.options.maxCommands / 2)) void this.writeNow();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.writeNow();
      }, this.options.intervalMs);
      this.timer.unref();
    }
    return undefined;
  }

  /** Writes what is waiting; resolves once every item added so far is written. */
  async flush(): Promise<void> {
    await this.writeNow();
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }

  /**
   * Writes the buffer after the write in progress, if any: one write waits behind it at most, and takes
   * every item added until it starts (so items that come while a write is in flight make one batch, not
   * one write each). Resolves when that write is done; never rejects (a failure is kept for `check`).
   */
  private writeNow(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queued) return this.queued;
    if (this.buffer.length === 0) return this.chain;
    const step = this.chain.then(async () => {
      this.queued = undefined;
      const items = this.buffer;
      this.buffer = [];
      this.inFlight += items.length;
      try {
        if (!this.failure && items.length > 0) await this.write(items);
      } catch (error) {
        this.failure = { error };
      } finally {
        this.inFlight -= items.length;
      }
    });
    this.queued = step;
    this.chain = step;
    return step;
  }
}
