import { SluiceError } from "../core/errors.ts";
import { streamMetrics } from "./metrics.ts";
import type {
  Consumer,
  ConsumerOptions,
  ReadOptions,
  RecordReader,
  StartPosition,
  StoredRecord,
  StoredTextRecord,
  StreamBackend,
} from "./types.ts";

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkGroupName(group: string, url: string): string {
  if (!GROUP_NAME.test(group))
    throw new SluiceError("USAGE_STREAM_GROUP", `invalid consumer group name '${group}'`, {
      context: { url },
      hint: "use letters, digits, '.', '_' or '-' (at most 100, starting with a letter or digit)",
    });
  return group;
}

/** A record with its value decoded as UTF-8 (in place: no copy of the bytes first). */
const asText = (r: StoredRecord): StoredTextRecord => ({
  ...r,
  value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength).toString("utf8"),
});

/** The reader's next records as text: its own text read, or what `next` returns, decoded. */
export async function nextText(
  reader: RecordReader,
  max: number,
  waitMs: number,
): Promise<StoredTextRecord[]> {
  if (reader.nextText) return reader.nextText(max, waitMs);
  return (await reader.next(max, waitMs)).map(asText);
}

/**
 * A consumer group member: reads in offset order from after the group's committed offset, commits
 * explicitly. At-least-once: what was read but not committed before a crash is read again.
 */
export class GroupConsumer implements Consumer {
  private next: number | undefined;
  private lastCommitted: number | undefined;
  private closed = false;

  private constructor(
    private readonly backend: StreamBackend,
    readonly stream: string,
    readonly group: string,
    private reader: RecordReader,
    private readonly prefetch: number,
    start: number | undefined,
    committed: number | undefined,
  ) {
    this.next = start;
    this.lastCommitted = committed;
  }

  static async open(
    backend: StreamBackend,
    stream: string,
    group: string,
    options: ConsumerOptions = {},
  ): Promise<GroupConsumer> {
    const prefetch = Math.max(1, options.prefetch ?? 1000);
    const committed = await backend.loadCommitted(stream, group);
    const from: StartPosition = committed !== undefined ? committed + 1 : (options.start ?? "earliest");
    const reader = await backend.openReader(stream, from, prefetch);
    return new GroupConsumer(
      backend,
      stream,
      group,
      reader,
      prefetch,
      typeof from === "number" ? from : undefined,
      committed,
    );
  }

  position(): number {
    return this.next ?? -1;
  }

  async seek(offset: number): Promise<void> {
    await this.reader.close();
    this.reader = await this.backend.openReader(this.stream, offset, this.prefetch);
    this.next = offset;
  }

  read(options: ReadOptions = {}): Promise<StoredRecord[]> {
    return this.advance(options, (max, waitMs) => this.reader.next(max, waitMs));
  }

  readText(options: ReadOptions = {}): Promise<StoredTextRecord[]> {
    return this.advance(options, (max, waitMs) => nextText(this.reader, max, waitMs));
  }

  private async advance<R extends { offset: number }>(
    options: ReadOptions,
    take: (max: number, waitMs: number) => Promise<R[]>,
  ): Promise<R[]> {
    if (this.closed) return [];
    if (options.from !== undefined && options.from !== this.next) await this.seek(options.from);
    const recs = await take(Math.max(1, options.max ?? 1000), options.waitMs ?? 0);
    const last = recs.at(-1);
    if (last) {
      this.next = last.offset + 1;
      streamMetrics().read.inc({ stream: this.stream, group: this.group }, recs.length);
    }
    return recs;
  }

  async commit(offset: number): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new SluiceError("USAGE_STREAM_OFFSET", `cannot commit offset ${offset}`, {
        context: { url: this.backend.url, stream: this.stream, group: this.group },
        hint: "commit the offset of the last record processed (a non-negative integer)",
      });
    await this.backend.storeCommitted(this.stream, this.group, offset);
    this.lastCommitted = offset;
    streamMetrics().committed.set({ stream: this.stream, group: this.group }, offset);
  }

  async committed(): Promise<number | undefined> {
    return this.lastCommitted ?? (await this.backend.loadCommitted(this.stream, this.group));
  }

  async lag(): Promise<number> {
    const [{ first, head }, committed] = await Promise.all([
      this.backend.bounds(this.stream),
      this.committed(),
    ]);
    return lagOf(head, first, committed);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StoredRecord> {
    while (!this.closed) {
      const recs = await this.read({ max: this.prefetch, waitMs: 500 });
      for (const r of recs) yield r;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reader.close();
  }
}

/** Records not yet committed: head - committed, or everything retained when nothing is committed. */
export function lagOf(
  head: number | undefined,
  first: number | undefined,
  committed: number | undefined,
): number {
  if (head === undefined) return 0;
  const done = committed ?? (first ?? 0) - 1;
  return Math.max(0, head - done);
}
