/**
 * MariaDB's UUID, INET4 and INET6 types: the binlog writes them as fixed binary strings (BINARY(16),
 * BINARY(4)) with nothing in the table map that tells them apart; with the type known from the schema
 * they print as the server prints them.
 */
import { ipv6Address } from "../../net/ip.ts";

/**
 * UUID (MariaDB 10.7+). In the record the five segments of time-based (RFC 4122 v1-v5, variant 1)
 * UUIDs are stored in the order clock_seq, node, time_hi, time_mid, time_low so that they sort by
 * time; other UUIDs are stored as they are written.
 */
export function formatUuid(buf: Buffer, p: number): string {
  const versionByte = buf[p + 8]!; // memory byte 6 is record byte 8 when swapped
  const variantByte = buf[p]!; // memory byte 8 is record byte 0 when swapped
  const v = versionByte >> 4;
  const swapped = v >= 1 && v <= 5 && (variantByte & 0xc0) === 0x80;
  const hex = swapped
    ? buf.toString("hex", p + 12, p + 16) +
      buf.toString("hex", p + 10, p + 12) +
      buf.toString("hex", p + 8, p + 10) +
      buf.toString("hex", p, p + 2) +
      buf.toString("hex", p + 2, p + 8)
    : buf.toString("hex", p, p + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function formatInet4(buf: Buffer, p: number): string {
  return `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}`;
}

/** INET6 as MariaDB prints it: IPv4-mapped/compatible in dotted form, else RFC 5952. */
export function formatInet6(buf: Buffer, p: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(p + 2 * i));
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0) {
    const v4 = `${buf[p + 12]}.${buf[p + 13]}.${buf[p + 14]}.${buf[p + 15]}`;
    if (words[5] === 0xffff) return `::ffff:${v4}`;
    if (words[5] === 0 && (words[6] !== 0 || words[7]! > 1)) return `::${v4}`;
  }
  return ipv6Address(buf, p);
}
