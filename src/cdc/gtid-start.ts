import { formatMariadbGtid, MariadbGtidPosition } from "../codecs/binlog/gtid.ts";
import { SluiceError } from "../core/errors.ts";
import type { BinlogEventRow } from "./partition.ts";
import type { SourceInfo } from "./source-info.ts";

/**
 * A MariaDB GTID start turned into the file position a partitioned catch-up needs. The server does
 * the work: SHOW BINLOG EVENTS names each transaction's GTID, which gives the candidate (the first
 * transaction boundary after the last transaction of the position), and BINLOG_GTID_POS at that
 * candidate must give back exactly the GTID position asked for; nothing is counted here. A position
 * whose domains interleave so that no single file position has that GTID state is refused.
 */

interface ShowRow extends BinlogEventRow {
  Info?: string;
}

const PAGE = 10_000;
const GTID_INFO = /\bGTID (\d+-\d+-\d+)\b/;

/** Where the transaction after the newest of `wanted` starts in `file`, or undefined if none is there. */
async function afterLastOf(
  info: SourceInfo,
  file: string,
  wanted: ReadonlySet<string>,
): Promise<{ found: boolean; next: number | undefined }> {
  let found = false;
  let next: number | undefined;
  for (let skip = 0; ; skip += PAGE) {
    const rows = await info.query<ShowRow>(`SHOW BINLOG EVENTS IN ? LIMIT ${skip}, ${PAGE}`, [file]);
    for (const r of rows) {
      if (r.Event_type !== "Gtid") continue;
      const g = GTID_INFO.exec(r.Info ?? "")?.[1];
      if (g && wanted.has(g)) {
        found = true;
        next = undefined;
      } else if (found && next === undefined) next = Number(r.Pos);
    }
    if (rows.length < PAGE) return { found, next };
  }
}

async function gtidStateAt(
  info: SourceInfo,
  file: string,
  offset: number,
): Promise<MariadbGtidPosition | undefined> {
  const [r] = await info.query<{ p: string | null }>("SELECT BINLOG_GTID_POS(?, ?) AS p", [file, offset]);
  return r?.p == null ? undefined : MariadbGtidPosition.parse(r.p);
}

/** Resolves a MariaDB GTID position (`0-1-7140` or `0-1-7140,1-2-33`) to the file position right after it. */
export async function mariadbGtidStart(
  info: SourceInfo,
  position: MariadbGtidPosition,
): Promise<{ file: string; offset: number }> {
  const text = position.toString();
  const [v] = await info.query<{ v: string }>("SELECT VERSION() AS v");
  if (!/mariadb/i.test(v?.v ?? ""))
    throw new SluiceError("USAGE_CDC_START", `${text} is a MariaDB GTID position, the source is MySQL`, {
      hint: "give --start FILE:OFFSET (a checkpoint, SHOW MASTER STATUS or SHOW BINLOG EVENTS say where)",
    });
  const wanted = new Set(position.list().map(formatMariadbGtid));
  const files = (await info.binlogFiles()).map((f) => f.file);
  const head = await info.head();
  // Where to look first: the newest file that starts before some domain reached its given GTID (the
  // server's BINLOG_GTID_POS at the file's start; sequence numbers grow within a domain). Then every
  // file, newest first, should that one not hold it; the server's answer below decides either way.
  const order = files.map((_, i) => i).reverse();
  for (const i of order) {
    const begins = await gtidStateAt(info, files[i]!, 4);
    if (position.list().some((g) => (begins?.get(g.domainId)?.seqNo ?? -1n) < g.seqNo)) {
      order.unshift(i);
      break;
    }
  }
  let candidate: { file: string; offset: number } | undefined;
  for (const i of new Set(order)) {
    if (candidate) break;
    const file = files[i]!;
    const r = await afterLastOf(info, file, wanted);
    if (!r.found) continue;
    if (r.next !== undefined) candidate = { file, offset: r.next };
    else if (file === head.file) candidate = head;
    else candidate = { file: files[i + 1]!, offset: 4 };
  }
  const found = candidate !== undefined;
  // Nothing of it in the binlog: it may be the state the oldest file starts with.
  candidate ??= files[0] ? { file: files[0], offset: 4 } : undefined;
  const state = candidate
    ? (await gtidStateAt(info, candidate.file, candidate.offset))?.toString()
    : undefined;
  if (candidate && state === text) return candidate;
  const says = `the server's BINLOG_GTID_POS(${candidate?.file}, ${candidate?.offset}) says '${state ?? ""}'`;
  throw new SluiceError(
    "CDC_GTID_START",
    found
      ? `no single binlog position has the GTID state ${text}: after its last transaction ${says}`
      : `the GTID position ${text} is not in the binlog of the source: SHOW BINLOG EVENTS has none of its GTIDs, and at the start of the oldest file ${says}`,
    {
      context: { gtid: text, ...(candidate ? { file: candidate.file, offset: candidate.offset } : {}) },
      hint: found
        ? "give every domain's last GTID as the server records it at one position (SELECT BINLOG_GTID_POS(file, offset) prints it), give --start FILE:OFFSET, or run with --workers 1, which hands any GTID position to the server as it is"
        : "the GTID may be purged (SHOW BINARY LOGS), not yet written (SELECT @@gtid_binlog_pos) or from another server; give --start FILE:OFFSET or earliest",
    },
  );
}
