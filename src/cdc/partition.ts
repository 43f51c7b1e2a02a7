import { compareBinlogFiles } from "../sources/replication/positions.ts";

/**
 * The partitioner of a parallel catch-up: splits [start, head) into ranges of about `rangeEvents`
 * events, cut exactly at transaction boundaries (GTID events), with the seed's method made cheap:
 * `SHOW BINLOG EVENTS IN f FROM p LIMIT N, K` lets the server skip N events and send only K rows, and
 * the first GTID among them is the cut. The server reads each event once over the whole walk; only
 * K rows per range cross the network.
 */
export interface BinlogEventRow {
  Log_name: string;
  Pos: number;
  Event_type: string;
  End_log_pos: number;
}

/** Runs `SHOW BINLOG EVENTS IN file FROM pos LIMIT skip, count`. */
export type ShowBinlogEvents = (
  file: string,
  pos: number,
  skip: number,
  count: number,
) => Promise<BinlogEventRow[]>;

export interface PlannedRange {
  startFile: string;
  startOffset: number;
  endFile: string;
  endOffset: number;
  /** Events in the range (exact). */
  events: number;
}

export interface PartitionOptions {
  start: { file: string; offset: number };
  head: { file: string; offset: number };
  /** Binlog files, oldest first (SHOW BINARY LOGS). */
  files: readonly string[];
  /** Events per range (default 10000, as in the seed). */
  rangeEvents?: number;
  /** Rows fetched after each jump to find the next GTID (default 200). */
  window?: number;
}

const isGtid = (t: string) => t === "Gtid" || t === "Anonymous_Gtid";

export async function partitionRange(show: ShowBinlogEvents, o: PartitionOptions): Promise<PlannedRange[]> {
  const n = o.rangeEvents ?? 10_000;
  const k = o.window ?? 200;
  const files = o.files.filter(
    (f) => compareBinlogFiles(f, o.start.file) >= 0 && compareBinlogFiles(f, o.head.file) <= 0,
  );
  const ranges: PlannedRange[] = [];
  let cur = { file: o.start.file, offset: o.start.offset };
  let events = 0;
  const beforeHead = (f: string, r: BinlogEventRow) => f !== o.head.file || Number(r.Pos) < o.head.offset;
  for (const f of files) {
    let p = f === o.start.file ? o.start.offset : 4;
    for (;;) {
      if (f === o.head.file && p >= o.head.offset) break;
      const rows = (await show(f, p, n, k)).filter((r) => beforeHead(f, r));
      const at = rows.findIndex((r) => isGtid(r.Event_type));
      if (at >= 0) {
        const cut = Number(rows[at]!.Pos);
        events += n + at;
        ranges.push({ startFile: cur.file, startOffset: cur.offset, endFile: f, endOffset: cut, events });
        cur = { file: f, offset: cut };
        events = 0;
        p = cut;
        continue;
      }
      if (rows.length === k) {
        // A transaction longer than the window: jump over what was seen and look again.
        events += n + k;
        p = Number(rows[k - 1]!.End_log_pos);
        continue;
      }
      // The file (or the part before the head) ends within n + k events of p: count the tail.
      if (rows.length > 0) events += n + rows.length;
      else events += (await show(f, p, 0, n)).filter((r) => beforeHead(f, r)).length;
      break;
    }
  }
  if (cur.file !== o.head.file || cur.offset !== o.head.offset)
    ranges.push({
      startFile: cur.file,
      startOffset: cur.offset,
      endFile: o.head.file,
      endOffset: o.head.offset,
      events,
    });
  return ranges;
}
