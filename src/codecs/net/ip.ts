/**
 * IPv4 and IPv6 headers, up to the transport payload.
 *
 *   IPv4: ver/ihl u8 | tos u8 | total_length u16 | id u16 | flags/fragment_offset u16 | ttl u8
 *         | protocol u8 | checksum u16 | src[4] | dst[4] | options (ihl*4 - 20 bytes)
 *   IPv6: ver/class/flow u32 | payload_length u16 | next_header u8 | hop_limit u8 | src[16] | dst[16]
 *         then extension headers: hop-by-hop (0), routing (43), destination options (60):
 *         next u8 | len u8 (8-byte units, not counting the first 8); fragment (44): 8 bytes;
 *         AH (51): len in 4-byte units, plus 2.
 * Fragments are counted and skipped: MySQL over TCP with path-MTU discovery does not fragment, and
 * reassembling IP fragments would need a buffer per datagram for no real traffic.
 */
export const IPPROTO_TCP = 6;

export interface IpPacket {
  version: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  /** Start and end (exclusive) of the transport payload in the frame: the IP length, not the frame's, bounds it. */
  payloadOffset: number;
  payloadEnd: number;
  /** Bytes the IP header says the packet has beyond the captured frame (cut by the snap length). */
  missing: number;
}

export type IpResult =
  | { kind: "ip"; packet: IpPacket }
  | { kind: "skip"; reason: "fragment" | "truncated" | "bad-ip" };

/**
 * Text of the IPv4 addresses seen lately, by their 32-bit value: a capture sees the same few hosts in
 * every packet, and building the text twice per packet was a visible share of the decoding. Bounded:
 * emptied when it reaches IPV4_NAMES_MAX entries.
 */
const ipv4Names = new Map<number, string>();
const IPV4_NAMES_MAX = 4096;

function ipv4Address(b: Buffer, pos: number): string {
  const value = ((b[pos]! << 24) | (b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!) >>> 0;
  let name = ipv4Names.get(value);
  if (name === undefined) {
    if (ipv4Names.size >= IPV4_NAMES_MAX) ipv4Names.clear();
    name = `${b[pos]}.${b[pos + 1]}.${b[pos + 2]}.${b[pos + 3]}`;
    ipv4Names.set(value, name);
  }
  return name;
}

/** RFC 5952 text form: lowercase hex, the longest run of two or more zero groups as "::". */
export function ipv6Address(b: Buffer, pos: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(pos + i * 2));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

export function decodeIp(frame: Buffer, offset: number, version: 4 | 6): IpResult {
  if (version === 4) {
    if (frame.length < offset + 20) return { kind: "skip", reason: "truncated" };
    const ihl = (frame[offset]! & 0x0f) * 4;
    if (frame[offset]! >> 4 !== 4 || ihl < 20) return { kind: "skip", reason: "bad-ip" };
    const totalLength = frame.readUInt16BE(offset + 2);
    const fragment = frame.readUInt16BE(offset + 6);
    // More-fragments set, or a non-zero offset: part of a fragmented datagram.
    if (fragment & 0x2000 || fragment & 0x1fff) return { kind: "skip", reason: "fragment" };
    if (frame.length < offset + ihl) return { kind: "skip", reason: "truncated" };
    // TSO/GRO captures may carry total_length 0: then the frame's end bounds the packet.
    const claimedEnd = totalLength === 0 ? frame.length : offset + totalLength;
    const end = Math.min(frame.length, claimedEnd);
    if (totalLength !== 0 && totalLength < ihl) return { kind: "skip", reason: "bad-ip" };
    return {
      kind: "ip",
      packet: {
        version: 4,
        src: ipv4Address(frame, offset + 12),
        dst: ipv4Address(frame, offset + 16),
        protocol: frame[offset + 9]!,
        payloadOffset: offset + ihl,
        payloadEnd: end,
        missing: claimedEnd - end,
      },
    };
  }
  if (frame.length < offset + 40) return { kind: "skip", reason: "truncated" };
  if (frame[offset]! >> 4 !== 6) return { kind: "skip", reason: "bad-ip" };
  const payloadLength = frame.readUInt16BE(offset + 4);
  const claimedEnd = payloadLength === 0 ? frame.length : offset + 40 + payloadLength;
  const end = Math.min(frame.length, claimedEnd);
  let next = frame[offset + 6]!;
  let pos = offset + 40;
  for (let hops = 0; hops < 16; hops++) {
    if (next === 0 || next === 43 || next === 60) {
      if (end < pos + 8) return { kind: "skip", reason: "truncated" };
      const n = frame[pos]!;
      pos += (frame[pos + 1]! + 1) * 8;
      next = n;
    } else if (next === 44) {
      if (end < pos + 8) return { kind: "skip", reason: "truncated" };
      const offsetAndMore = frame.readUInt16BE(pos + 2);
      // An "atomic fragment" (offset 0, no more fragments) is a whole datagram.
      if (offsetAndMore !== 0) return { kind: "skip", reason: "fragment" };
      next = frame[pos]!;
      pos += 8;
    } else if (next === 51) {
      if (end < pos + 8) return { kind: "skip", reason: "truncated" };
      const n = frame[pos]!;
      pos += (frame[pos + 1]! + 2) * 4;
      next = n;
    } else break;
  }
  if (pos > end) return { kind: "skip", reason: "truncated" };
  return {
    kind: "ip",
    packet: {
      version: 6,
      src: ipv6Address(frame, offset + 8),
      dst: ipv6Address(frame, offset + 24),
      protocol: next,
      payloadOffset: pos,
      payloadEnd: end,
      missing: claimedEnd - end,
    },
  };
}
