import { envelopeToJsonLine, pkText } from "../cdc/envelope.ts";
import { openStreamLog, type Producer, type StreamLog } from "../stream/index.ts";
import type { ChangeChunk, ChangeSink } from "./types.ts";

/**
 * Change envelopes into the stream log (embedded SQLite or RabbitMQ), one record per row change:
 * key `schema.table:pk` (per-row order is append order), value the envelope as JSON, policy `block`
 * (nothing is lost; the collector slows down instead). Replays after a crash append duplicates;
 * consumers drop them by `(source.file, source.offset, source.row)`.
 */
export class StreamLogSink implements ChangeSink {
  readonly kind = "stream";
  private constructor(
    private readonly log: StreamLog,
    private readonly producer: Producer,
  ) {}

  static async open(url: string, stream = "cdc"): Promise<StreamLogSink> {
    const log = await openStreamLog(url);
    const producer = await log.producer(log.defaultStream ?? stream, { policy: "block" });
    return new StreamLogSink(log, producer);
  }

  async write(chunk: ChangeChunk): Promise<void> {
    await this.producer.append(
      chunk.changes.map((e) => ({
        key: `${e.schema}.${e.table}:${pkText(e.pk) ?? ""}`,
        value: Buffer.from(envelopeToJsonLine(e)),
        timestamp: e.source.timestamp * 1000,
        headers: { kind: e.kind, transaction: e.transaction.id },
      })),
    );
  }

  async flush(): Promise<void> {
    await this.producer.flush();
  }

  async close(): Promise<void> {
    await this.producer.close();
    await this.log.close();
  }
}
