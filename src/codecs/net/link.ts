/**
 * Link layers: from a captured frame to the network-layer packet inside it.
 *
 *   Ethernet (DLT 1):        dst[6] src[6] ethertype u16be, with 802.1Q / 802.1ad (QinQ) tags
 *                            (tpid 0x8100 / 0x88A8 / 0x9100 | tci u16) before the real ethertype
 *   Linux cooked SLL (113):  packet_type u16 | arphrd u16 | addr_len u16 | addr[8] | protocol u16be
 *   Linux cooked SLL2 (276): protocol u16be | reserved u16 | ifindex u32 | arphrd u16 | packet_type u8
 *                            | addr_len u8 | addr[8]
 *   BSD loopback NULL (0):   family u32 in the capturing host's byte order (2 = IPv4; 10/24/28/30 = IPv6)
 *   OpenBSD LOOP (108):      family u32 big-endian
 *   raw IP (101, 12, 14):    the IP header straight away (version nibble says which)
 *   IPv4 (228), IPv6 (229):  the IP header straight away
 */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW_OPENBSD: 12,
  RAW_BSDOS: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);
const MAX_VLAN_TAGS = 4;

/** Where the network-layer packet starts in a frame, and which one it is. */
export type LinkResult =
  | { kind: "ip"; version: 4 | 6; offset: number; vlan: number | undefined }
  | { kind: "skip"; reason: "not-ip" | "unsupported-link" | "truncated" };

function ethertypeResult(type: number, offset: number, vlan: number | undefined): LinkResult {
  if (type === ETHERTYPE_IPV4) return { kind: "ip", version: 4, offset, vlan };
  if (type === ETHERTYPE_IPV6) return { kind: "ip", version: 6, offset, vlan };
  return { kind: "skip", reason: "not-ip" };
}

function familyResult(family: number, offset: number): LinkResult {
  if (family === 2) return { kind: "ip", version: 4, offset, vlan: undefined };
  if (family === 10 || family === 24 || family === 28 || family === 30)
    return { kind: "ip", version: 6, offset, vlan: undefined };
  return { kind: "skip", reason: "not-ip" };
}

export function decodeLinkLayer(linkType: number, frame: Buffer): LinkResult {
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (frame.length < 14) return { kind: "skip", reason: "truncated" };
      let pos = 12;
      let type = frame.readUInt16BE(pos);
      let vlan: number | undefined;
      for (let tags = 0; VLAN_TPIDS.has(type) && tags < MAX_VLAN_TAGS; tags++) {
        if (frame.length < pos + 6) return { kind: "skip", reason: "truncated" };
        // The outermost tag names the VLAN (QinQ's service tag); inner ones only add 4 bytes.
        vlan ??= frame.readUInt16BE(pos + 2) & 0x0fff;
        pos += 4;
        type = frame.readUInt16BE(pos);
      }
      return ethertypeResult(type, pos + 2, vlan);
    }
    case LinkType.LINUX_SLL:
      if (frame.length < 16) return { kind: "skip", reason: "truncated" };
      return ethertypeResult(frame.readUInt16BE(14), 16, undefined);
    case LinkType.LINUX_SLL2:
      if (frame.length < 20) return { kind: "skip", reason: "truncated" };
      return ethertypeResult(frame.readUInt16BE(0), 20, undefined);
    case LinkType.NULL: {
      if (frame.length < 4) return { kind: "skip", reason: "truncated" };
      // Host byte order of the capturing machine: whichever reading gives a small number.
      const le = frame.readUInt32LE(0);
      return familyResult(le < 0x10000 ? le : frame.readUInt32BE(0), 4);
    }
    case LinkType.LOOP:
      if (frame.length < 4) return { kind: "skip", reason: "truncated" };
      return familyResult(frame.readUInt32BE(0), 4);
    case LinkType.RAW:
    case LinkType.RAW_OPENBSD:
    case LinkType.RAW_BSDOS:
    case LinkType.IPV4:
    case LinkType.IPV6: {
      if (frame.length < 1) return { kind: "skip", reason: "truncated" };
      const version = frame[0]! >> 4;
      if (version === 4 || version === 6) return { kind: "ip", version, offset: 0, vlan: undefined };
      return { kind: "skip", reason: "not-ip" };
    }
    default:
      return { kind: "skip", reason: "unsupported-link" };
  }
}
