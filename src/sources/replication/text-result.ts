import { ByteReader } from "../../codecs/binlog/reader.ts";

/**
 * The few pieces of a text-protocol result set the replication client needs to read its own queries
 * (SHOW MASTER STATUS, SHOW BINARY LOGS, SELECT BINLOG_GTID_POS(...)): column names and rows of
 * strings. Pure.
 *
 * Column Definition 41: lenenc catalog, schema, table, org_table, name, org_name, then fixed fields.
 * Text row: one lenenc string per column, 0xFB for NULL.
 */
export interface TextResult {
  columns: string[];
  rows: (string | null)[][];
}

/** The column count that opens a result set (the first packet after COM_QUERY when not OK/ERR). */
export function decodeColumnCount(payload: Buffer): number {
  return new ByteReader(payload).lenencLength("column count");
}

export function decodeColumnName(payload: Buffer): string {
  const r = new ByteReader(payload);
  for (let i = 0; i < 4; i++) r.lenencBytes("column definition field");
  return r.lenencBytes("column name").toString("utf8");
}

export function decodeTextRow(payload: Buffer, columnCount: number): (string | null)[] {
  const r = new ByteReader(payload);
  const row: (string | null)[] = [];
  for (let i = 0; i < columnCount; i++) {
    if (r.buf[r.pos] === 0xfb) {
      r.pos += 1;
      row.push(null);
    } else {
      row.push(r.lenencBytes("column value").toString("utf8"));
    }
  }
  return row;
}

/** Rows as objects keyed by column name (later duplicates win). */
export function rowObjects(result: TextResult): Record<string, string | null>[] {
  return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i] ?? null])));
}
