import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BinlogEventDecoder } from "../../../src/codecs/binlog/decoder.ts";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { eventToJson } from "../../../src/codecs/binlog/output.ts";
import { decodeBinlogChunks } from "../../../src/sources/binlog-file.ts";

/** The shared fixture directory (../shared/fixtures/binlog from the repository root). */
export const FIXTURES = fileURLToPath(new URL("../../../../shared/fixtures/binlog/", import.meta.url));

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES).sort();
}

export function fixture(name: string): Buffer {
  return readFileSync(FIXTURES + name);
}

/** Fixtures that are damaged: each must end in this error code at this offset. */
export const DAMAGED: Readonly<Record<string, { code: string; offset: number }>> = {
  "binlog_truncated_event.000001": { code: "BINLOG_TRUNCATED", offset: 4 },
  "binlog_truncated_prev_gtid_event.000001": { code: "BINLOG_TRUNCATED", offset: 120 },
  "corrupt-relay-bin.000624": { code: "BINLOG_BAD_EVENT", offset: 91204 },
  // incident type 66 (servers know only 1, LOST_EVENTS): the point of MySQL bug 40482's test file
  "bug40482-bin.000001": { code: "BINLOG_BAD_EVENT", offset: 106 },
  // a 5.2 development tree whose format description gives EXECUTE_LOAD_QUERY a 6-byte post-header
  "ver_5_1-wl2325_r.001": { code: "BINLOG_BAD_EVENT", offset: 549 },
};

/** Decodes chunks of one file; returns the events decoded and the error that ended it, if any. */
export async function decodeChunks(
  chunks: Buffer[],
  name: string,
): Promise<{ events: BinlogEvent[]; error: unknown }> {
  const events: BinlogEvent[] = [];
  try {
    for await (const ev of decodeBinlogChunks(chunks, name, new BinlogEventDecoder())) events.push(ev);
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

/** The JSON lines of a decode, plus the error's code and context: what a run prints. */
export function transcript(r: { events: BinlogEvent[]; error: unknown }): string {
  const lines = r.events.map((e) => JSON.stringify(eventToJson(e)));
  if (r.error) {
    const e = r.error as { code?: string; context?: unknown; message?: string };
    const context = JSON.stringify(e.context, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    lines.push(`ERROR ${e.code} ${context} ${e.message}`);
  }
  return lines.join("\n");
}
