import {
  ABSENT,
  type CellValue,
  type ColumnDef,
  ColumnType,
  JsonDiffList,
  JsonText,
  type RowsEvent,
} from "./types.ts";

/**
 * The output contract of row values (docs/binlog-values.md): SQL NULL null; integers as numbers within
 * ±2^53, else decimal strings; DECIMAL exact strings; temporal strings; text strings; binary
 * {"base64": ...}; BIT integers; ENUM/SET labels; JSON parsed; absent columns are not keys.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Name of a column in output: its name when known, else `@N` (1-based, as mysqlbinlog prints). */
export function columnName(col: ColumnDef): string {
  return col.name ?? `@${col.index + 1}`;
}

/** The shortest decimal text that reads back as the same single-precision float, as the server prints. */
export function formatFloat32(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

function vectorValues(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= b.length; i += 4) out.push(Number(formatFloat32(b.readFloatLE(i))));
  return out;
}

/** One cell in the output contract's JSON representation. */
export function cellToJson(v: CellValue, col: ColumnDef): unknown {
  if (v === null) return null;
  switch (typeof v) {
    case "number":
      if (col.realType === ColumnType.FLOAT) return Number(formatFloat32(v));
      return v;
    case "bigint":
      return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
    case "string":
      return v;
    default:
      break;
  }
  if (Buffer.isBuffer(v)) {
    if (col.realType === ColumnType.VECTOR) return vectorValues(v);
    return { base64: v.toString("base64") };
  }
  if (v instanceof JsonText) return JSON.parse(v.text);
  if (v instanceof JsonDiffList)
    return {
      jsonDiffs: v.diffs.map((d) =>
        d.value === undefined
          ? { op: d.op, path: d.path }
          : { op: d.op, path: d.path, value: JSON.parse(d.value.text) },
      ),
    };
  return null;
}

function imageToJson(values: CellValue[], cols: ColumnDef[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === ABSENT) continue;
    const col = cols[i]!;
    out[columnName(col)] = cellToJson(v, col);
  }
  return out;
}

export function rowsEventToJson(ev: RowsEvent): {
  schema: string;
  table: string;
  rows: Array<{ before?: Record<string, unknown>; after?: Record<string, unknown> }>;
} {
  const cols = ev.table.columns;
  return {
    schema: ev.table.schema,
    table: ev.table.table,
    rows: ev.rows.map((r) => {
      const row: { before?: Record<string, unknown>; after?: Record<string, unknown> } = {};
      if (r.before) row.before = imageToJson(r.before, cols);
      if (r.after) row.after = imageToJson(r.after, cols);
      return row;
    }),
  };
}

/** A cell for people: SQL-ish literals (strings quoted, binary as hex). */
export function cellToText(v: CellValue, col: ColumnDef): string {
  if (v === null) return "NULL";
  if (typeof v === "string")
    return `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'").replaceAll("\n", "\\n")}'`;
  if (typeof v === "number") return col.realType === ColumnType.FLOAT ? formatFloat32(v) : String(v);
  if (typeof v === "bigint") return v.toString();
  if (Buffer.isBuffer(v)) {
    if (col.realType === ColumnType.VECTOR) return `[${vectorValues(v).join(",")}]`;
    return v.length > 64 ? `x'${v.toString("hex", 0, 64)}…' (${v.length} bytes)` : `x'${v.toString("hex")}'`;
  }
  if (v instanceof JsonText) return `'${v.text}'`;
  if (v instanceof JsonDiffList)
    return `JSON diffs(${v.diffs.map((d) => `${d.op} ${d.path}${d.value ? ` = ${d.value.text}` : ""}`).join("; ")})`;
  return "?";
}

function imageToText(values: CellValue[], cols: ColumnDef[]): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === ABSENT) continue;
    parts.push(`${columnName(cols[i]!)}=${cellToText(v, cols[i]!)}`);
  }
  return parts.join(", ");
}

/** Close to `mariadb-binlog -v`, one line per image. */
export function rowsEventToText(ev: RowsEvent): string {
  const cols = ev.table.columns;
  const name = `\`${ev.table.schema}\`.\`${ev.table.table}\``;
  const verb = ev.kind === "write" ? "INSERT INTO" : ev.kind === "update" ? "UPDATE" : "DELETE FROM";
  const lines = [`${verb} ${name} (${ev.rows.length} row${ev.rows.length === 1 ? "" : "s"})`];
  for (const r of ev.rows) {
    if (r.before) lines.push(`  WHERE ${imageToText(r.before, cols)}`);
    if (r.after) lines.push(`  ${ev.kind === "update" ? "SET" : "VALUES"} ${imageToText(r.after, cols)}`);
  }
  return lines.join("\n");
}
