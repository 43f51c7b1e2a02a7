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
 * {"base64": ...}; BIT integers; ENUM/SET labels; JSON parsed (MariaDB's JSON text: parsed when exact,
 * see mariadbJsonToJson); absent columns are not keys.
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

/** Integers a double holds exactly whatever their text: the fast accept of `exactNumber`. */
const SHORT_INT = /^-?\d{1,15}$/;

/**
 * A JSON number's decimal value as a key (`-15e-1` for `-1.50`): digits without leading and trailing
 * zeros and the power of ten, so `1.50`, `15E-1` and `1.5` have the same key; zero is `0` (`-0` too).
 */
function decimalKey(t: string): string {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return t;
  const frac = m[2] ?? "";
  const digits = (m[1]! + frac).replace(/^0+/, "");
  if (digits === "") return "0";
  const trimmed = digits.replace(/0+$/, "");
  const exp = BigInt(m[3] ?? 0) - BigInt(frac.length) + BigInt(digits.length - trimmed.length);
  return `${t.startsWith("-") ? "-" : ""}${trimmed}e${exp}`;
}

/**
 * Whether the double JSON.parse makes of a number token is written back (JSON.stringify) as the same
 * decimal value: false for integers beyond 2^53 that a double cannot hold (12345678901234567890),
 * more significant digits than a double keeps, and values beyond its range (1e400, 1e-400).
 */
function exactNumber(token: string): boolean {
  if (SHORT_INT.test(token)) return true;
  const d = Number(token);
  if (!Number.isFinite(d)) return false;
  // the common case (1.5, 0.25, 1e-7): the token is already the double's own shortest text
  const back = String(d);
  return back === token || decimalKey(token) === decimalKey(back);
}

/** String tokens (with `:` after a key) and number tokens of a valid JSON text, in order. */
const JSON_TOKENS = /"(?:[^"\\]|\\.)*"(\s*:)?|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** Keys of all objects in a parsed document (iterative: documents may nest deeper than the stack). */
function countKeys(doc: unknown): number {
  let n = 0;
  const stack: unknown[] = [doc];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else {
      const keys = Object.keys(v);
      n += keys.length;
      for (const k of keys) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return n;
}

/**
 * A MariaDB JSON column's text in the output contract (docs/binlog-values.md): the parsed document
 * when writing it back as JSON says exactly what the text says, value for value; else the text itself,
 * unchanged. The text is kept for a text that is not JSON (a CHECK added after the data, or checks
 * off), numbers a double cannot carry exactly (a JSON number then would be a different number), and
 * duplicate keys (MariaDB's functions read the first, JSON.parse keeps the last). Number notation is
 * not kept (`1.50` → `1.5`, `1E2` → `100`, `-0` → `0`): JSON numbers are values.
 */
export function mariadbJsonToJson(text: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof doc !== "object" || doc === null)
    return typeof doc === "number" && !exactNumber(text.trim()) ? text : doc;
  let keys = 0;
  JSON_TOKENS.lastIndex = 0;
  for (let m = JSON_TOKENS.exec(text); m !== null; m = JSON_TOKENS.exec(text)) {
    const t = m[0];
    if (t.charCodeAt(0) === 0x22) {
      if (m[1] !== undefined) keys++;
    } else if (!exactNumber(t)) return text;
  }
  return keys === countKeys(doc) ? doc : text;
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
      // MariaDB JSON (LONGTEXT + json_valid CHECK), known from the schema resolver
      return col.dataType === "json" ? mariadbJsonToJson(v) : v;
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
