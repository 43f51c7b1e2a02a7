import { decompress } from "fzstd";
import { messageOf, SluiceError } from "../../../core/errors.ts";
import type { ByteReader } from "../reader.ts";

/**
 * TRANSACTION_PAYLOAD_EVENT (40, MySQL 8.0.20+ binlog_transaction_compression): a whole
 * transaction's events, compressed.
 *   header fields `type packed-int | length packed-int | value packed-int` until type 0:
 *     1 = payload size, 2 = compression type (0 zstd, 255 none), 3 = uncompressed size
 *   | payload (the inner events back to back, each with its common header and no checksum)
 */
export interface TransactionPayloadData {
  type: "transaction_payload";
  compression: "zstd" | "none";
  payloadSize: number;
  uncompressedSize: number;
  /** The decoded inner events (filled by the decoder). */
  eventCount: number;
}

export interface TransactionPayload {
  data: TransactionPayloadData;
  /** The uncompressed inner events. */
  inner: Buffer;
}

export function decodeTransactionPayload(r: ByteReader): TransactionPayload {
  let payloadSize = -1;
  let compressionCode = 0;
  let uncompressedSize = -1;
  while (r.remaining > 0) {
    const t = r.lenencLength("payload field type");
    if (t === 0) break;
    const len = r.lenencLength("payload field length");
    const v = r.sub(len, "payload field");
    const value = v.lenencLength("payload field value");
    if (t === 1) payloadSize = value;
    else if (t === 2) compressionCode = value;
    else if (t === 3) uncompressedSize = value;
  }
  const at = r.base + r.pos;
  const payload = r.rest();
  const fail = (why: string, cause?: unknown) =>
    new SluiceError("BINLOG_DECOMPRESS", `transaction payload: ${why}`, {
      context: { file: r.file, offset: at },
      hint: "the event is damaged",
      ...(cause === undefined ? {} : { cause }),
    });
  if (payloadSize >= 0 && payloadSize !== payload.length)
    throw fail(`payload of ${payload.length} bytes where the header says ${payloadSize}`);
  let inner: Buffer;
  // 1 GiB: MySQL's own limit for a transaction payload event (max_allowed_packet); beyond it the header is damage.
  if (uncompressedSize > 1 << 30) throw fail(`uncompressed size ${uncompressedSize} is beyond 1 GiB`);
  if (compressionCode === 255) inner = payload;
  else if (compressionCode === 0) {
    try {
      const out = decompress(payload, uncompressedSize >= 0 ? new Uint8Array(uncompressedSize) : undefined);
      inner = Buffer.from(out.buffer, out.byteOffset, out.length);
    } catch (e) {
      throw fail(`zstd: ${messageOf(e)}`, e);
    }
  } else throw fail(`unknown compression type ${compressionCode}`);
  if (uncompressedSize >= 0 && inner.length !== uncompressedSize)
    throw fail(`uncompressed ${inner.length} bytes where the header says ${uncompressedSize}`);
  return {
    data: {
      type: "transaction_payload",
      compression: compressionCode === 255 ? "none" : "zstd",
      payloadSize: payload.length,
      uncompressedSize: inner.length,
      eventCount: 0,
    },
    inner,
  };
}
