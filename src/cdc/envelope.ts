import { cellToJson } from "../codecs/binlog/rows/output.ts";
import { ABSENT, type CellValue, type ColumnDef } from "../codecs/binlog/rows/types.ts";
import type { ChangeKind } from "./filter.ts";

/**
 * The change envelope: one record per row change, the one shape every CDC sink receives (history
 * store, JSON lines, stream log). Documented in docs/cdc.md; bump `v` on any incompatible change.
 */
export interface ChangeEnvelope {
  v: 1;
  source: {
    serverId: number;
    /** Binlog file and offset of the rows event that carried this change. */
    file: string;
    offset: number;
    /** Index of this row within its rows event: (file, offset, row) names a change uniquely. */
    row: number;
    /** GTID of the transaction, when the server writes GTIDs. */
    gtid: string | null;
    /** Event timestamp, seconds since the epoch (the server's commit-time clock). */
    timestamp: number;
  };
  transaction: TransactionRef & {
    /** Chunk index within the transaction (0-based); a transaction's changes arrive in chunks of N. */
    chunk: number;
    /** True on the transaction's last chunk. */
    last: boolean;
  };
  schema: string;
  table: string;
  kind: ChangeKind;
  /** Primary key values by column name; null when the table has no known primary key. */
  pk: Record<string, JsonValue> | null;
  /** Row image before the change (updates, deletes), after column filters; absent columns are not keys. */
  before?: Record<string, JsonValue>;
  /** Row image after the change (inserts, updates). */
  after?: Record<string, JsonValue>;
  /** Updates: the columns whose value differs between before and after, in table order. */
  changed?: string[];
}

export interface TransactionRef {
  /** The GTID, or `file:offset` of the transaction's first event when there is none. */
  id: string;
  /** Where the transaction starts (its GTID or BEGIN event): the history store's duplicate key. */
  file: string;
  offset: number;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/**
 * The named image of a row, keeping the columns `keep` allows; ABSENT cells are left out. Values
 * follow the binlog output contract (docs/binlog-values.md), the same as `sluice binlog read`.
 */
export function namedImage(
  cells: readonly CellValue[],
  columns: readonly ColumnDef[],
  names: readonly string[],
  keep: ((name: string) => boolean) | undefined,
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (c === undefined || c === ABSENT) continue;
    const name = names[i]!;
    if (keep && !keep(name)) continue;
    out[name] = cellToJson(c, columns[i]!) as JsonValue;
  }
  return out;
}

/** Same JSON value? (Structural; cheap for the scalars that nearly all cells are.) */
export function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The primary key as text, the history store's lookup key: values joined by ',' in key order. */
export function pkText(pk: Record<string, JsonValue> | null): string | null {
  if (!pk) return null;
  return Object.values(pk)
    .map((v) => (typeof v === "string" ? v : JSON.stringify(v)))
    .join(",");
}

/** An envelope as one JSON line (no trailing newline). */
export function envelopeToJsonLine(e: ChangeEnvelope): string {
  return JSON.stringify(e);
}
