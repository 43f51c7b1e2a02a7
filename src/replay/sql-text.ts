import { skipQuoted } from "../capture/fingerprint.ts";
import { type ParamValue, textOrHex } from "../codecs/mysql/binary-values.ts";

/** Scanning SQL text: comments, quoted text and parentheses, as the server's lexer sees them. */

/** SQL without comments (a `/*!...*\/` version comment keeps its content); quoted text untouched. */
export function stripComments(sql: string): string {
  let out = "";
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === "`") {
      const end = skipQuoted(sql, i, c);
      out += sql.slice(i, end);
      i = end;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      const stop = end < 0 ? sql.length : end;
      if (sql[i + 2] === "!") out += ` ${sql.slice(i + 3, stop).replace(/^\d{5,6}/, "")} `;
      else out += " ";
      i = stop + 2;
    } else if ((c === "-" && sql[i + 1] === "-" && /\s/.test(sql[i + 2] ?? " ")) || c === "#") {
      const end = sql.indexOf("\n", i);
      out += " ";
      i = end < 0 ? sql.length : end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Splits at `sep` outside quotes and parentheses. */
export function splitTopLevel(sql: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === "`") {
      i = skipQuoted(sql, i, c);
      continue;
    }
    if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (c === sep && depth === 0) {
      parts.push(sql.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  parts.push(sql.slice(start));
  return parts.filter((p) => p.trim() !== "");
}

/**
 * The SQL with its comments taken out and its `?` placeholders (outside quoted text) replaced by
 * `literals`, in order; undefined when the counts differ.
 */
export function bindPlaceholders(sql: string, literals: readonly string[]): string | undefined {
  const text = stripComments(sql);
  let out = "";
  let n = 0;
  let from = 0;
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === "'" || c === '"' || c === "`") i = skipQuoted(text, i, c);
    else if (c === "?") {
      const literal = literals[n++];
      if (literal === undefined) return undefined;
      out += text.slice(from, i) + literal;
      from = ++i;
    } else i++;
  }
  return n === literals.length ? (out + text.slice(from)).trim() : undefined;
}

/**
 * A parameter as an SQL literal that reads back as the same value whatever the sql_mode: text quoted
 * with its quotes doubled, or, when it holds a backslash (which NO_BACKSLASH_ESCAPES reads as itself
 * and the default mode as an escape), as its UTF-8 bytes in hex with a `_utf8mb4` introducer; bytes
 * as X'hex', numbers as they are, NULL.
 */
export function sqlLiteral(v: ParamValue | Buffer): string {
  if (v === null) return "NULL";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "NULL";
  if (Buffer.isBuffer(v)) return `X'${v.toString("hex")}'`;
  if (v.includes("\\")) return `_utf8mb4 X'${Buffer.from(v, "utf8").toString("hex")}'`;
  return `'${v.replace(/'/g, "''")}'`;
}

/**
 * A captured parameter as the target gets it. The capture writes bytes that are not UTF-8 as `0x` and
 * their hex (bytes that are UTF-8 come out as text), so a `0x` string whose bytes are not UTF-8 can only
 * be such bytes: they are sent as bytes.
 */
export function paramValue(v: ParamValue): ParamValue | Buffer {
  if (typeof v !== "string" || !/^0x(?:[0-9a-f]{2})+$/.test(v)) return v;
  const bytes = Buffer.from(v.slice(2), "hex");
  return textOrHex(bytes) === v ? bytes : v;
}

/** A prepared statement's SQL with an execution's captured parameters as literals (see sqlLiteral). */
export function boundSql(sql: string, params: readonly ParamValue[] | undefined): string | undefined {
  return bindPlaceholders(
    sql,
    (params ?? []).map((v) => sqlLiteral(paramValue(v))),
  );
}
