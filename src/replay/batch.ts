/**
 * When a replay from the stream log writes its progress (the journal of executed commands, the group's
 * committed position): `intervalMs` after the first completed command of a batch, or at once when
 * `maxCommands` are waiting, whichever comes first; always at the end of the run and before it exits on
 * SIGINT/SIGTERM. `maxCommands: 1` writes (and waits for) every command on its own.
 */
export interface BatchOptions {
  /** Longest a completed command waits to be written, ms (> 0). */
  intervalMs: number;
  /** Most completed commands waiting to be written (>= 1). */
  maxCommands: number;
}

export const DEFAULT_BATCH: Readonly<BatchOptions> = { intervalMs: 100, maxCommands: 1000 };

/**
 * Collects items and writes them in batches (see BatchOptions); writes run one at a time, in the order
 * the items were added. `add` returns at once while fewer than `maxCommands` items are unwritten, and
 * otherwise only once its own item is written: so at most `maxCommands - 1` items whose `add` has
 * returned are unwritten at any time. A failed write fails every later `add` and `flush`.
 */
export class Batcher<T> {
  private buffer: T[] = [];
  private inFlight = 0;
  private chain: Promise<void> = Promise.resolve();
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

  async add(item: T): Promise<void> {
    this.check();
    this.buffer.push(item);
    if (this.unwritten >= this.options.maxCommands) {
      await this.writeNow();
      this.check();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.writeNow();
      }, this.options.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes what is waiting; resolves once every item added so far is written. */
  async flush(): Promise<void> {
    await this.writeNow();
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Starts writing the buffer after the writes already started; resolves when that is done (never rejects). */
  private writeNow(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buffer.length === 0) return this.chain;
    const items = this.buffer;
    this.buffer = [];
    this.inFlight += items.length;
    this.chain = this.chain.then(async () => {
      try {
        if (!this.failure) await this.write(items);
      } catch (error) {
        this.failure = { error };
      } finally {
        this.inFlight -= items.length;
      }
    });
    return this.chain;
  }
}
