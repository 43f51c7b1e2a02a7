import { SluiceError } from "../../core/errors.ts";

/**
 * MySQL client/server packet framing (pure: bytes in, payloads out).
 *
 *   int<3> payload_length | int<1> sequence_id | string<payload_length> payload
 *
 * A payload of 2^24-1 (0xFFFFFF) bytes or more is sent as several packets: every packet but the last
 * carries exactly 0xFFFFFF bytes, the last one fewer (possibly 0 bytes, when the payload length is a
 * multiple of 0xFFFFFF). Each packet takes the next sequence id (mod 256). The parser joins them back
 * into one logical payload; the encoder splits.
 */
export const PACKET_HEADER_LENGTH = 4;
export const MAX_PACKET_PAYLOAD = 0xffffff;

/** One logical packet: a payload rebuilt from one or more wire packets. */
export interface MysqlPacket {
  payload: Buffer;
  /** Sequence id of the first wire packet. */
  sequenceId: number;
  /** The sequence id the next packet of the conversation takes (last wire packet's id + 1, mod 256). */
  nextSequenceId: number;
}

export interface PacketParserOptions {
  /**
   * Largest logical payload accepted (bytes); a longer one throws MYSQL_PACKET_TOO_LARGE before any
   * of it is buffered. Default: 1 GiB, the server's own max_allowed_packet ceiling.
   */
  maxPayloadLength?: number;
  /**
   * Offered every packet that lies whole in one chunk (and is a whole payload) before it is passed
   * to `onPacket`: `payloadLength` bytes at `chunk[start]`, to be read at once. Returning true takes
   * the packet (`onPacket` is not called and no view of the chunk is made): for consumers that only
   * count most packets (a capture counting result rows), where a Buffer per packet was the cost.
   */
  peek?: (chunk: Buffer, start: number, payloadLength: number, sequenceId: number) => boolean;
}

/**
 * A push parser: feed it chunks as they arrive (`push`), it calls `onPacket` once per complete logical
 * packet, in order. A payload that lies whole inside one chunk is passed as a view of that chunk (no
 * copy), so callers must not reuse a chunk's memory after pushing it (socket chunks are fresh buffers).
 * A payload split across chunks is copied once into a buffer of its final size.
 */
export class PacketParser {
  private readonly onPacket: (packet: MysqlPacket) => void;
  private readonly maxPayloadLength: number;
  private readonly peek: PacketParserOptions["peek"];
  /** Header bytes received so far when a header is split across chunks. */
  private readonly header = Buffer.alloc(PACKET_HEADER_LENGTH);
  private headerFilled = 0;
  /** The wire packet being filled when its payload is split across chunks. */
  private body: Buffer | undefined;
  private bodyFilled = 0;
  private bodySequenceId = 0;
  /** Completed 0xFFFFFF-byte wire packets of a logical packet still being received. */
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private firstSequenceId = 0;

  constructor(onPacket: (packet: MysqlPacket) => void, options: PacketParserOptions = {}) {
    this.onPacket = onPacket;
    this.maxPayloadLength = options.maxPayloadLength ?? 1024 * 1024 * 1024;
    this.peek = options.peek;
  }

  /** Bytes received but not yet part of a complete logical packet (e.g. to report a truncated tail). */
  get buffered(): number {
    return this.headerFilled + this.bodyFilled + this.fragmentsLength;
  }

  /** Drops any partial packet (after the connection is reset). */
  reset(): void {
    this.headerFilled = 0;
    this.body = undefined;
    this.bodyFilled = 0;
    this.fragments = [];
    this.fragmentsLength = 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.body !== undefined) {
        const n = Math.min(this.body.length - this.bodyFilled, end - pos);
        chunk.copy(this.body, this.bodyFilled, pos, pos + n);
        this.bodyFilled += n;
        pos += n;
        if (this.bodyFilled === this.body.length) {
          const body = this.body;
          this.body = undefined;
          this.bodyFilled = 0;
          this.completeWirePacket(body, this.bodySequenceId);
        }
        continue;
      }
      let length: number;
      let sequenceId: number;
      if (this.headerFilled === 0 && end - pos >= PACKET_HEADER_LENGTH) {
        length = chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16);
        sequenceId = chunk[pos + 3]!;
        pos += PACKET_HEADER_LENGTH;
      } else {
        const n = Math.min(PACKET_HEADER_LENGTH - this.headerFilled, end - pos);
        chunk.copy(this.header, this.headerFilled, pos, pos + n);
        this.headerFilled += n;
        pos += n;
        if (this.headerFilled < PACKET_HEADER_LENGTH) return;
        this.headerFilled = 0;
        length = this.header[0]! | (this.header[1]! << 8) | (this.header[2]! << 16);
        sequenceId = this.header[3]!;
      }
      if (this.fragmentsLength + length > this.maxPayloadLength) {
        throw new SluiceError(
          "MYSQL_PACKET_TOO_LARGE",
          `packet payload of ${this.fragmentsLength + length}+ bytes exceeds the ${this.maxPayloadLength}-byte limit`,
          {
            context: { sequenceId, length: this.fragmentsLength + length, limit: this.maxPayloadLength },
            hint: "the peer is not speaking the MySQL protocol, or the limit is too low for this data",
          },
        );
      }
      if (end - pos >= length) {
        const start = pos;
        pos += length;
        if (
          this.peek !== undefined &&
          this.fragments.length === 0 &&
          length < MAX_PACKET_PAYLOAD &&
          this.peek(chunk, start, length, sequenceId)
        )
          continue;
        this.completeWirePacket(chunk.subarray(start, pos), sequenceId);
      } else {
        this.body = Buffer.allocUnsafe(length);
        this.bodySequenceId = sequenceId;
        const n = end - pos;
        chunk.copy(this.body, 0, pos, end);
        this.bodyFilled = n;
        pos = end;
      }
    }
  }

  private completeWirePacket(payload: Buffer, sequenceId: number): void {
    if (this.fragments.length === 0 && payload.length < MAX_PACKET_PAYLOAD) {
      this.onPacket({ payload, sequenceId, nextSequenceId: (sequenceId + 1) & 0xff });
      return;
    }
    if (this.fragments.length === 0) this.firstSequenceId = sequenceId;
    this.fragments.push(payload);
    this.fragmentsLength += payload.length;
    if (payload.length === MAX_PACKET_PAYLOAD) return;
    const joined = Buffer.concat(this.fragments, this.fragmentsLength);
    this.fragments = [];
    this.fragmentsLength = 0;
    this.onPacket({
      payload: joined,
      sequenceId: this.firstSequenceId,
      nextSequenceId: (sequenceId + 1) & 0xff,
    });
  }
}

/** How many wire packets a payload of `length` bytes takes (a multiple of 0xFFFFFF adds an empty one). */
export function wirePacketCount(length: number): number {
  return Math.floor(length / MAX_PACKET_PAYLOAD) + 1;
}

/**
 * Frames one logical payload as wire packets starting at `sequenceId`; the next packet of the
 * conversation takes `(sequenceId + wirePacketCount(payload.length)) & 0xff`.
 */
export function encodePacket(payload: Buffer, sequenceId: number): Buffer {
  const count = wirePacketCount(payload.length);
  const out = Buffer.allocUnsafe(payload.length + count * PACKET_HEADER_LENGTH);
  let src = 0;
  let dst = 0;
  for (let i = 0; i < count; i++) {
    const n = Math.min(MAX_PACKET_PAYLOAD, payload.length - src);
    out[dst] = n & 0xff;
    out[dst + 1] = (n >> 8) & 0xff;
    out[dst + 2] = (n >> 16) & 0xff;
    out[dst + 3] = (sequenceId + i) & 0xff;
    payload.copy(out, dst + PACKET_HEADER_LENGTH, src, src + n);
    src += n;
    dst += PACKET_HEADER_LENGTH + n;
  }
  return out;
}
