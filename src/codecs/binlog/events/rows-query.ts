import type { ByteReader } from "../reader.ts";

/**
 * ROWS_QUERY_LOG_EVENT (29, MySQL binlog_rows_query_log_events): the statement behind the next rows events.
 *   length u8 (ignored: it wraps above 255) | query text (to the end)
 */
export interface RowsQueryData {
  type: "rows_query";
  query: string;
}

export function decodeRowsQuery(r: ByteReader): RowsQueryData {
  r.skip(1, "rows_query length");
  return { type: "rows_query", query: r.rest().toString("utf8") };
}
