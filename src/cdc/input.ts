import type { BinlogEvent } from "../codecs/binlog/events.ts";
import type { CdcInput, EventMeta } from "./transformer.ts";

/**
 * Normalizes the binlog decoder's events into what the transformer needs; everything else (format
 * descriptions, GTID lists, annotate rows, table maps: rows events carry their table) is dropped here.
 * Transaction payloads (MySQL compression) are opened and their inner events normalized in order.
 */
export function* toCdcInputs(ev: BinlogEvent): Generator<CdcInput> {
  if (ev.type === "transaction_payload") {
    for (const inner of ev.events) yield* toCdcInputs(inner);
    return;
  }
  const meta: EventMeta = {
    position: { file: ev.position.file, offset: ev.position.offset, next: ev.position.next },
    timestamp: ev.header.timestamp,
    serverId: ev.header.serverId,
  };
  switch (ev.type) {
    case "mariadb_gtid":
      yield { type: "begin", gtid: ev.gtid ?? null, standalone: ev.standalone, ...meta };
      return;
    case "gtid":
    case "gtid_tagged_log":
    case "anonymous_gtid":
      yield { type: "begin", gtid: ev.gtid ?? null, ...meta };
      return;
    case "query":
    case "mariadb_query_compressed": {
      const q = ev.query.trim().toUpperCase();
      if (q === "BEGIN" || q.startsWith("XA START")) yield { type: "begin", gtid: null, ...meta };
      else if (q === "COMMIT" || q.startsWith("XA END") || q.startsWith("XA COMMIT") || q === "ROLLBACK")
        yield { type: "commit", ...meta };
      else yield { type: "ddl", database: ev.database, query: ev.query, ...meta };
      return;
    }
    case "xid":
    case "xa_prepare":
      yield { type: "commit", ...meta };
      return;
    case "rotate":
      yield { type: "rotate", nextFile: ev.nextFile, nextPosition: Number(ev.nextPosition), ...meta };
      return;
    case "heartbeat":
    case "heartbeat_v2":
      yield { type: "heartbeat", ...meta };
      return;
    default:
      if ("rows" in ev && ev.rows !== undefined && typeof ev.rows === "object" && "kind" in ev.rows) {
        yield { type: "rows", event: ev.rows, ...meta };
      }
  }
}
