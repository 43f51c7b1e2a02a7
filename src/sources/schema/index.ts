/** Table schemas from the server (information_schema), tracked across DDL seen in the binlog stream. */

export { TableMapAnnotator } from "./annotator.ts";
export { type DdlTarget, ddlTargets } from "./ddl.ts";
export {
  comparePositions,
  jsonCheckColumn,
  markJsonColumns,
  type Position,
  parseEnumLabels,
  rowToColumnInfo,
  type SchemaQuery,
  SchemaResolver,
} from "./resolver.ts";
