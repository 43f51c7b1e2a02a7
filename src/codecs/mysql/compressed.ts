import { inflateSync } from "node:zlib";
import { decompress as zstdDecompress } from "fzstd";
import { SluiceError } from "../../core/errors.ts";

/**
 * The compressed protocol (CLIENT_COMPRESS; zstd with MySQL's CLIENT_ZSTD_COMPRESSION_ALGORITHM): after
 * authentication every chunk on the wire is
 *   int<3> compressed_length | int<1> compressed_sequence_id | int<3> uncompressed_length | payload
 * where payload is zlib (or zstd) data inflating to uncompressed_length bytes, or, when that length is 0,
 * stored as is. The inflated bytes are ordinary MySQL packets, which may span compressed chunks.
 */
export const COMPRESSED_HEADER_LENGTH = 7;

export type CompressionAlgorithm = "zlib" | "zstd";

export class CompressedFrameParser {
  private readonly onData: (data: Buffer) => void;
  private readonly algorithm: CompressionAlgorithm;
  private readonly maxLength: number;
  private readonly header = Buffer.alloc(COMPRESSED_HEADER_LENGTH);
  private headerFilled = 0;
  /** The chunk being filled when it is split across pushes, allocated once at its final size. */
  private body: Buffer | undefined;
  private bodyFilled = 0;
  private bodyUncompressed = 0;

  constructor(
    onData: (data: Buffer) => void,
    algorithm: CompressionAlgorithm = "zlib",
    maxLength = 64 * 1024 * 1024,
  ) {
    this.onData = onData;
    this.algorithm = algorithm;
    this.maxLength = maxLength;
  }

  get buffered(): number {
    return this.headerFilled + this.bodyFilled;
  }

  reset(): void {
    this.headerFilled = 0;
    this.body = undefined;
    this.bodyFilled = 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body !== undefined) {
        const n = Math.min(this.body.length - this.bodyFilled, chunk.length - pos);
        chunk.copy(this.body, this.bodyFilled, pos, pos + n);
        this.bodyFilled += n;
        pos += n;
        if (this.bodyFilled < this.body.length) return;
        const body = this.body;
        this.body = undefined;
        this.bodyFilled = 0;
        this.emit(body, this.bodyUncompressed);
        continue;
      }
      let length: number;
      let uncompressed: number;
      if (this.headerFilled === 0 && chunk.length - pos >= COMPRESSED_HEADER_LENGTH) {
        length = chunk.readUIntLE(pos, 3);
        uncompressed = chunk.readUIntLE(pos + 4, 3);
        pos += COMPRESSED_HEADER_LENGTH;
      } else {
        const n = Math.min(COMPRESSED_HEADER_LENGTH - this.headerFilled, chunk.length - pos);
        chunk.copy(this.header, this.headerFilled, pos, pos + n);
        this.headerFilled += n;
        pos += n;
        if (this.headerFilled < COMPRESSED_HEADER_LENGTH) return;
        this.headerFilled = 0;
        length = this.header.readUIntLE(0, 3);
        uncompressed = this.header.readUIntLE(4, 3);
      }
      if (length > this.maxLength)
        throw new SluiceError("MYSQL_COMPRESSED_TOO_LARGE", `compressed chunk of ${length} bytes`, {
          context: { length, limit: this.maxLength },
        });
      if (chunk.length - pos >= length) {
        const body = chunk.subarray(pos, pos + length);
        pos += length;
        this.emit(body, uncompressed);
      } else {
        this.body = Buffer.allocUnsafe(length);
        this.bodyUncompressed = uncompressed;
        chunk.copy(this.body, 0, pos);
        this.bodyFilled = chunk.length - pos;
        pos = chunk.length;
      }
    }
  }

  private emit(body: Buffer, uncompressed: number): void {
    this.onData(uncompressed === 0 ? body : this.inflate(body, uncompressed));
  }

  private inflate(body: Buffer, expected: number): Buffer {
    let out: Buffer;
    try {
      out =
        this.algorithm === "zlib"
          ? inflateSync(body, { maxOutputLength: expected })
          : Buffer.from(zstdDecompress(body));
    } catch (e) {
      throw new SluiceError("MYSQL_BAD_COMPRESSED", `compressed chunk does not inflate (${this.algorithm})`, {
        context: { length: body.length, expected },
        hint: "the capture lost bytes of a compressed connection, or the algorithm is not the negotiated one",
        cause: e,
      });
    }
    if (out.length !== expected)
      throw new SluiceError(
        "MYSQL_BAD_COMPRESSED",
        `compressed chunk inflates to ${out.length} bytes, header says ${expected}`,
        {
          context: { length: body.length, expected },
        },
      );
    return out;
  }
}

/** Builds a compressed chunk (zlib) around `data`: for tests. */
export function encodeCompressedChunk(
  data: Buffer,
  sequenceId: number,
  compress: (b: Buffer) => Buffer,
): Buffer {
  const body = compress(data);
  const head = Buffer.alloc(COMPRESSED_HEADER_LENGTH);
  head.writeUIntLE(body.length, 0, 3);
  head[3] = sequenceId & 0xff;
  head.writeUIntLE(data.length, 4, 3);
  return Buffer.concat([head, body]);
}

/**
 * True when `chunk` (one TCP segment) is, or starts, a compressed chunk with sequence id 0 whose
 * (inflated) content satisfies `isCommand`: how a capture that missed the start of a compressed
 * connection, or lost bytes of one, finds the next command. zlib only: zstd is negotiated in the
 * handshake, which such a capture did not see.
 */
export function looksLikeCompressedCommand(chunk: Buffer, isCommand: (plain: Buffer) => boolean): boolean {
  if (chunk.length < COMPRESSED_HEADER_LENGTH + 5 || chunk[3] !== 0) return false;
  const length = chunk.readUIntLE(0, 3);
  const uncompressed = chunk.readUIntLE(4, 3);
  if (length === 0) return false;
  const end = COMPRESSED_HEADER_LENGTH + length;
  if (uncompressed === 0)
    return isCommand(chunk.subarray(COMPRESSED_HEADER_LENGTH, Math.min(end, chunk.length)));
  if (end > chunk.length || uncompressed > 16 * 1024 * 1024) return false;
  try {
    return isCommand(
      inflateSync(chunk.subarray(COMPRESSED_HEADER_LENGTH, end), { maxOutputLength: uncompressed }),
    );
  } catch {
    return false;
  }
}
