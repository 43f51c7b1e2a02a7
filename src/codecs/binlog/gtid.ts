import { SluiceError } from "../../core/errors.ts";

/**
 * GTIDs in the servers' own notations.
 * - MariaDB: `domain-server-seq` (`0-1-7140`); a position is one GTID per domain, comma-separated.
 * - MySQL: `uuid:gno`, tagged (8.3+) `uuid:tag:gno`; a GTID set is `uuid:1-100:200,uuid2:tag:5`,
 *   intervals inclusive, tags apply to the intervals after them within one uuid's entry.
 */

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const TAG_RE = /^[a-z_][a-z0-9_]{0,31}$/i;

function bad(what: string, value: string, why: string): SluiceError {
  return new SluiceError("GTID_PARSE", `${what} '${value}': ${why}`, { context: { what, value } });
}

/** `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` from 16 bytes. */
export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function normUuid(text: string, whole: string): string {
  if (!UUID_RE.test(text)) throw bad("GTID set", whole, `'${text}' is not a UUID`);
  const h = text.replace(/-/g, "").toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A MySQL GTID: `uuid:gno` or `uuid:tag:gno`. */
export function formatMysqlGtid(uuid: string, gno: bigint | number, tag?: string): string {
  return tag ? `${uuid}:${tag}:${gno}` : `${uuid}:${gno}`;
}

export interface MariadbGtid {
  domainId: number;
  serverId: number;
  seqNo: bigint;
}

export function formatMariadbGtid(g: MariadbGtid): string {
  return `${g.domainId}-${g.serverId}-${g.seqNo}`;
}

export function parseMariadbGtid(text: string): MariadbGtid {
  const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(text);
  if (!m) throw bad("MariaDB GTID", text, "expected domain-server-sequence, e.g. 0-1-7140");
  const domainId = Number(m[1]);
  const serverId = Number(m[2]);
  const seqNo = BigInt(m[3]!);
  if (domainId > 0xffffffff || serverId > 0xffffffff || seqNo > 0xffffffffffffffffn)
    throw bad("MariaDB GTID", text, "a component is out of range");
  return { domainId, serverId, seqNo };
}

/** A MariaDB GTID position: at most one GTID per replication domain. */
export class MariadbGtidPosition {
  private readonly byDomain = new Map<number, MariadbGtid>();

  static parse(text: string): MariadbGtidPosition {
    const p = new MariadbGtidPosition();
    for (const part of text.split(",")) {
      if (part.trim() === "") continue;
      const g = parseMariadbGtid(part);
      if (p.byDomain.has(g.domainId))
        throw bad("MariaDB GTID position", text, `domain ${g.domainId} appears twice`);
      p.byDomain.set(g.domainId, g);
    }
    return p;
  }

  static of(gtids: Iterable<MariadbGtid>): MariadbGtidPosition {
    const p = new MariadbGtidPosition();
    for (const g of gtids) p.set(g);
    return p;
  }

  /** Records `g` as the latest GTID of its domain. */
  set(g: MariadbGtid): this {
    this.byDomain.set(g.domainId, { ...g });
    return this;
  }

  get(domainId: number): MariadbGtid | undefined {
    return this.byDomain.get(domainId);
  }

  get size(): number {
    return this.byDomain.size;
  }

  /** GTIDs ordered by domain id. */
  list(): MariadbGtid[] {
    return [...this.byDomain.values()].sort((a, b) => a.domainId - b.domainId);
  }

  toString(): string {
    return this.list().map(formatMariadbGtid).join(",");
  }
}

/** Inclusive interval of transaction numbers. */
export interface GnoInterval {
  start: bigint;
  end: bigint;
}

/** A MySQL GTID set: per (uuid, tag), a sorted list of disjoint inclusive intervals. */
export class GtidSet {
  /** key `uuid` or `uuid:tag` -> intervals */
  private readonly sets = new Map<string, GnoInterval[]>();

  static parse(text: string): GtidSet {
    const set = new GtidSet();
    const src = text.replace(/\s+/g, "");
    if (src === "") return set;
    for (const entry of src.split(",")) {
      if (entry === "") continue;
      const parts = entry.split(":");
      const uuid = normUuid(parts[0]!, text);
      if (parts.length < 2) throw bad("GTID set", text, `'${entry}' has no transaction numbers`);
      let tag: string | undefined;
      for (const part of parts.slice(1)) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(part);
        if (m) {
          const start = BigInt(m[1]!);
          const end = m[2] === undefined ? start : BigInt(m[2]);
          if (start < 1n || end < start) throw bad("GTID set", text, `bad interval '${part}'`);
          set.addInterval(uuid, start, end, tag);
        } else if (TAG_RE.test(part)) {
          tag = part.toLowerCase();
        } else throw bad("GTID set", text, `'${part}' is neither an interval nor a tag`);
      }
    }
    return set;
  }

  /** Adds one transaction. */
  add(uuid: string, gno: bigint | number, tag?: string): this {
    const g = BigInt(gno);
    return this.addInterval(uuid, g, g, tag);
  }

  /** Adds the inclusive interval start..end, merging with neighbours. */
  addInterval(uuid: string, start: bigint, end: bigint, tag?: string): this {
    const key = tag ? `${uuid.toLowerCase()}:${tag.toLowerCase()}` : uuid.toLowerCase();
    const list = this.sets.get(key) ?? [];
    list.push({ start, end });
    list.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const merged: GnoInterval[] = [];
    for (const iv of list) {
      const last = merged[merged.length - 1];
      if (last && iv.start <= last.end + 1n) {
        if (iv.end > last.end) last.end = iv.end;
      } else merged.push({ ...iv });
    }
    this.sets.set(key, merged);
    return this;
  }

  contains(uuid: string, gno: bigint | number, tag?: string): boolean {
    const key = tag ? `${uuid.toLowerCase()}:${tag.toLowerCase()}` : uuid.toLowerCase();
    const g = BigInt(gno);
    return (this.sets.get(key) ?? []).some((iv) => iv.start <= g && g <= iv.end);
  }

  get isEmpty(): boolean {
    return this.sets.size === 0;
  }

  /** Entries as {uuid, tag, intervals}, sorted by uuid then tag (untagged first). */
  entries(): Array<{ uuid: string; tag: string | undefined; intervals: GnoInterval[] }> {
    return [...this.sets.entries()]
      .map(([key, intervals]) => {
        const i = key.indexOf(":");
        return {
          uuid: i < 0 ? key : key.slice(0, i),
          tag: i < 0 ? undefined : key.slice(i + 1),
          intervals: intervals.map((iv) => ({ ...iv })),
        };
      })
      .sort((a, b) =>
        a.uuid !== b.uuid
          ? a.uuid < b.uuid
            ? -1
            : 1
          : (a.tag ?? "") < (b.tag ?? "")
            ? -1
            : (a.tag ?? "") > (b.tag ?? "")
              ? 1
              : 0,
      );
  }

  /** MySQL's notation: `uuid:1-5:7:tag:1-3,uuid2:1`. */
  toString(): string {
    const byUuid = new Map<string, string[]>();
    for (const e of this.entries()) {
      const parts = byUuid.get(e.uuid) ?? [];
      if (e.tag) parts.push(e.tag);
      for (const iv of e.intervals) parts.push(iv.start === iv.end ? `${iv.start}` : `${iv.start}-${iv.end}`);
      byUuid.set(e.uuid, parts);
    }
    return [...byUuid.entries()].map(([uuid, parts]) => `${uuid}:${parts.join(":")}`).join(",");
  }
}
