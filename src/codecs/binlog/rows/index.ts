/**
 * The row layer of the binlog decoder: table maps (with optional metadata), rows events of every
 * kind, the cell values of every column type, and their output-contract JSON and text forms.
 */
import type { FormatContext } from "../types.ts";
import { applyColumnNames, type ColumnNameSource } from "./names.ts";
import { decodeRowsEvent as decodeRows } from "./rows-event.ts";
import { decodeTableMapEvent as decodeTableMap } from "./table-map.ts";
import type { TableMapEvent } from "./types.ts";

export { charsetOfCollation } from "./charsets.ts";
export type { ColumnInfo, ColumnNameSource } from "./names.ts";
export { applyColumnNames } from "./names.ts";
export {
  cellToJson,
  cellToText,
  columnName,
  formatFloat32,
  rowsEventToJson,
  rowsEventToText,
} from "./output.ts";
export {
  decodeRowsEvent,
  iterateRows,
  openRowsEvent,
  type RowsEventFrame,
  rowsEventLayout,
} from "./rows-event.ts";
export { OptionalMetadata } from "./table-map.ts";
export * from "./types.ts";

/**
 * Decodes a TABLE_MAP event body (after the common header, without checksum). When `names` is given
 * and the map carries no COLUMN_NAME metadata, names/signedness/labels/charsets come from it (the
 * source validates the map against the schema it knows and throws SCHEMA_MISMATCH otherwise).
 */
export function decodeTableMapEvent(
  body: Buffer,
  ctx: FormatContext,
  where: { file: string; offset: number },
  names?: ColumnNameSource,
): TableMapEvent {
  const map = decodeTableMap(body, ctx, where);
  if (names !== undefined) applyColumnNames(map, names);
  return map;
}

/**
 * The row layer as the event decoder plugs it in (`RowsCodec` of src/codecs/binlog/decoder.ts), with
 * column names and types filled in from `names` (e.g. a prepared SchemaResolver).
 */
export function rowsCodecWithNames(names: ColumnNameSource): {
  decodeTableMapEvent: (
    body: Buffer,
    ctx: FormatContext,
    where: { file: string; offset: number },
  ) => TableMapEvent;
  decodeRowsEvent: typeof decodeRows;
} {
  return {
    decodeTableMapEvent: (body, ctx, where) => decodeTableMapEvent(body, ctx, where, names),
    decodeRowsEvent: decodeRows,
  };
}
