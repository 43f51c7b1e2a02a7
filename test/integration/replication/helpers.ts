import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import type { MariadbSandbox } from "../../../src/sandbox/index.ts";
import {
  type BinlogStream,
  type BinlogStreamOptions,
  openBinlogStream,
} from "../../../src/sources/replication/stream.ts";

/** SHOW BINLOG EVENTS' Event_type -> the decoder's `type`. */
const TYPE_OF: Record<string, string> = {
  Format_desc: "format_description",
  Gtid_list: "mariadb_gtid_list",
  Binlog_checkpoint: "mariadb_binlog_checkpoint",
  Gtid: "mariadb_gtid",
  Annotate_rows: "mariadb_annotate_rows",
  Query: "query",
  Table_map: "table_map",
  Write_rows_v1: "write_rows_v1",
  Update_rows_v1: "update_rows_v1",
  Delete_rows_v1: "delete_rows_v1",
  Xid: "xid",
  Rotate: "rotate",
  Stop: "stop",
};

export interface ListedEvent {
  at: string;
  type: string;
}

/** What the server itself says its binlogs hold: `file:offset-end type` for every event of every file. */
export async function showBinlogEvents(sb: MariadbSandbox): Promise<ListedEvent[]> {
  const logs = await sb.query<{ Log_name: string }>("SHOW BINARY LOGS");
  const out: ListedEvent[] = [];
  for (const { Log_name } of logs) {
    const rows = await sb.query<{ Pos: number; End_log_pos: number; Event_type: string }>(
      `SHOW BINLOG EVENTS IN '${Log_name}'`,
    );
    for (const r of rows)
      out.push({ at: `${Log_name}:${r.Pos}-${r.End_log_pos}`, type: TYPE_OF[r.Event_type] ?? r.Event_type });
  }
  return out;
}

export function listed(ev: BinlogEvent): ListedEvent {
  return { at: `${ev.position.file}:${ev.position.offset}-${ev.position.next}`, type: ev.type };
}

/** Events the server made up for the dump (artificial ROTATE, FORMAT_DESCRIPTION with log_pos 0, ...). */
export function isMadeUp(ev: BinlogEvent): boolean {
  return ev.header.logPos === 0 || (ev.header.flags & 0x20) !== 0 || ev.type === "heartbeat";
}

/** Runs a bounded stream to its end and returns the real binlog events it delivered. */
export async function collect(url: string, options: BinlogStreamOptions): Promise<BinlogEvent[]> {
  const out: BinlogEvent[] = [];
  for await (const ev of openBinlogStream(url, { heartbeatSeconds: 0, ...options }))
    if (!isMadeUp(ev)) out.push(ev);
  return out;
}

export async function head(sb: MariadbSandbox): Promise<{ file: string; offset: number }> {
  const [s] = await sb.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  return { file: s!.File, offset: Number(s!.Position) };
}

export function gtidsOf(events: BinlogEvent[]): string[] {
  return events.filter((e) => e.type === "mariadb_gtid").map((e) => e.gtid ?? "?");
}

export { relay } from "../tcp-relay.ts";
export type { BinlogStream };
