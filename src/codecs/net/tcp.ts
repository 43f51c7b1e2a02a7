import { decodeIp, IPPROTO_TCP } from "./ip.ts";
import { decodeLinkLayer } from "./link.ts";

/**
 * TCP header (RFC 9293):
 *   src_port u16 | dst_port u16 | seq u32 | ack u32 | data_offset(4) reserved(4) | flags u8
 *   | window u16 | checksum u16 | urgent u16 | options (data_offset*4 - 20 bytes)
 */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface TcpSegment {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The segment's data (a view of the frame). */
  payload: Buffer;
  /** Data bytes the snap length cut off the end of this segment (0 when captured whole). */
  missing: number;
  vlan: number | undefined;
}

export type SkipReason =
  | "not-ip"
  | "unsupported-link"
  | "truncated"
  | "fragment"
  | "bad-ip"
  | "not-tcp"
  | "bad-tcp";

export type FrameResult = { kind: "tcp"; segment: TcpSegment } | { kind: "skip"; reason: SkipReason };

/** Decodes a captured frame down to its TCP segment, or says why it is not one Sluice can use. */
export function decodeTcpFrame(linkType: number, frame: Buffer): FrameResult {
  const link = decodeLinkLayer(linkType, frame);
  if (link.kind === "skip") return link;
  const ip = decodeIp(frame, link.offset, link.version);
  if (ip.kind === "skip") return ip;
  const p = ip.packet;
  if (p.protocol !== IPPROTO_TCP) return { kind: "skip", reason: "not-tcp" };
  const pos = p.payloadOffset;
  if (p.payloadEnd < pos + 20) return { kind: "skip", reason: "truncated" };
  const dataOffset = (frame[pos + 12]! >> 4) * 4;
  if (dataOffset < 20) return { kind: "skip", reason: "bad-tcp" };
  if (p.payloadEnd < pos + dataOffset) return { kind: "skip", reason: "truncated" };
  return {
    kind: "tcp",
    segment: {
      srcIp: p.src,
      srcPort: frame.readUInt16BE(pos),
      dstIp: p.dst,
      dstPort: frame.readUInt16BE(pos + 2),
      seq: frame.readUInt32BE(pos + 4),
      ack: frame.readUInt32BE(pos + 8),
      flags: frame[pos + 13]!,
      payload: frame.subarray(pos + dataOffset, p.payloadEnd),
      missing: p.missing,
      vlan: link.vlan,
    },
  };
}

/** Builds an IPv4/TCP packet (no link layer; checksums left 0): for tests and synthetic captures. */
export function encodeIpv4Tcp(s: Omit<TcpSegment, "vlan" | "missing">): Buffer {
  const b = Buffer.alloc(40 + s.payload.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = IPPROTO_TCP;
  const ip = (a: string, at: number) => {
    for (const [i, part] of a.split(".").entries()) b[at + i] = Number(part);
  };
  ip(s.srcIp, 12);
  ip(s.dstIp, 16);
  b.writeUInt16BE(s.srcPort, 20);
  b.writeUInt16BE(s.dstPort, 22);
  b.writeUInt32BE(s.seq >>> 0, 24);
  b.writeUInt32BE(s.ack >>> 0, 28);
  b[32] = 5 << 4;
  b[33] = s.flags;
  b.writeUInt16BE(65535, 34);
  s.payload.copy(b, 40);
  return b;
}
