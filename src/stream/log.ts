import { checkGroupName, GroupConsumer, lagOf, nextText } from "./consumer.ts";
import { PolicyProducer } from "./producer.ts";
import type {
  Consumer,
  ConsumerOptions,
  OpenOptions,
  Producer,
  ProducerOptions,
  ReadOptions,
  RecordReader,
  StoredRecord,
  StoredTextRecord,
  StreamBackend,
  StreamInfo,
  StreamLog,
} from "./types.ts";
import { checkStreamName } from "./url.ts";

/** The shared layer over an adapter: policies, consumer groups, info; closes what it opened. */
export class BackendStreamLog implements StreamLog {
  readonly adapter: StreamLog["adapter"];
  readonly url: string;
  private readonly producers = new Set<Producer>();
  private readonly consumers = new Set<Consumer>();

  constructor(
    private readonly backend: StreamBackend,
    readonly defaultStream: string | undefined,
    private readonly options: OpenOptions = {},
  ) {
    this.adapter = backend.adapter;
    this.url = backend.url;
  }

  async producer(stream: string, options: ProducerOptions = {}): Promise<Producer> {
    checkStreamName(stream, this.url);
    await this.backend.ensureStream(stream, this.options.retention ?? {});
    const p = new PolicyProducer(this.backend, stream, options);
    this.producers.add(p);
    return p;
  }

  async consumer(stream: string, group: string, options: ConsumerOptions = {}): Promise<Consumer> {
    checkStreamName(stream, this.url);
    checkGroupName(group, this.url);
    await this.backend.ensureStream(stream, this.options.retention ?? {});
    const c = await GroupConsumer.open(this.backend, stream, group, options);
    this.consumers.add(c);
    return c;
  }

  read(stream: string, from: number, options: ReadOptions = {}): Promise<StoredRecord[]> {
    return this.readWith(stream, from, options, (reader, max, waitMs) => reader.next(max, waitMs));
  }

  readText(stream: string, from: number, options: ReadOptions = {}): Promise<StoredTextRecord[]> {
    return this.readWith(stream, from, options, nextText);
  }

  private async readWith<R>(
    stream: string,
    from: number,
    options: ReadOptions,
    take: (reader: RecordReader, max: number, waitMs: number) => Promise<R[]>,
  ): Promise<R[]> {
    checkStreamName(stream, this.url);
    const max = Math.max(1, options.max ?? 1000);
    const reader = await this.backend.openReader(stream, from, max);
    try {
      return await take(reader, max, options.waitMs ?? 0);
    } finally {
      await reader.close();
    }
  }

  async info(stream: string): Promise<StreamInfo> {
    checkStreamName(stream, this.url);
    const { first, head, exists } = await this.backend.bounds(stream);
    const info: StreamInfo = {
      stream,
      exists,
      partitions: [{ partition: 0, first, head }],
      groups: [],
      retention: exists ? await this.backend.retention(stream) : {},
    };
    if (!exists) return info;
    for (const group of await this.backend.groups(stream)) {
      const committed = await this.backend.loadCommitted(stream, group);
      info.groups.push({ group, committed, lag: lagOf(head, first, committed) });
    }
    return info;
  }

  streams(): Promise<string[]> {
    return this.backend.streams();
  }

  async deleteStream(stream: string): Promise<void> {
    checkStreamName(stream, this.url);
    await this.backend.deleteStream(stream);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.producers].map((p) => p.close()));
    await Promise.allSettled([...this.consumers].map((c) => c.close()));
    await this.backend.close();
  }
}
