/**
 * Which tables a statement from a QUERY event changes the shape of: ALTER/CREATE/DROP/RENAME TABLE,
 * CREATE/DROP DATABASE. Only names are extracted (the schema itself is refetched from the server).
 */

export interface DdlTarget {
  /** `schema` alone (table undefined) means every table of the schema. */
  schema: string;
  table: string | undefined;
}

/** Removes comments and collapses whitespace, keeping quoted text intact. */
function stripComments(sql: string): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"' || ch === "`") {
      let j = i + 1;
      while (j < sql.length && sql[j] !== ch) j += sql[j] === "\\" && ch !== "`" ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (ch === "/" && sql[i + 1] === "*") {
      // Executable comments (/*! ... */, /*M! ... */) hold statement text; keep their content.
      const end = sql.indexOf("*/", i + 2);
      const body = sql.slice(i + 2, end < 0 ? sql.length : end);
      const m = /^(?:!|M!)\d*/.exec(body);
      out += m ? ` ${body.slice(m[0].length)} ` : " ";
      i = end < 0 ? sql.length : end + 2;
    } else if ((ch === "-" && sql[i + 1] === "-" && /\s/.test(sql[i + 2] ?? " ")) || ch === "#") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
      out += " ";
    } else {
      out += ch;
      i++;
    }
  }
  return out.replace(/\s+/g, " ").trim();
}

const IDENT = String.raw`(?:\x60(?:[^\x60]|\x60\x60)+\x60|[A-Za-z0-9_$\u0080-\uffff]+)`;
const NAME = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;

function unquote(id: string): string {
  return id.startsWith("`") ? id.slice(1, -1).replaceAll("``", "`") : id;
}

function splitName(name: string, defaultSchema: string): DdlTarget {
  const parts = name.match(new RegExp(IDENT, "g")) ?? [];
  if (parts.length >= 2) return { schema: unquote(parts[0]!), table: unquote(parts[1]!) };
  return { schema: defaultSchema, table: unquote(parts[0] ?? "") };
}

/** Tables whose columns a statement may change; [] for statements that change none. */
export function ddlTargets(sql: string, defaultSchema: string): DdlTarget[] {
  const s = stripComments(sql);
  let m = new RegExp(
    String.raw`^ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:IF\s+EXISTS\s+)?(${NAME})`,
    "i",
  ).exec(s);
  if (m) {
    const out = [splitName(m[1]!, defaultSchema)];
    const rename = new RegExp(
      String.raw`\bRENAME\s+(?:TO\s+|AS\s+)?(?!COLUMN\b|INDEX\b|KEY\b)(${NAME})`,
      "i",
    ).exec(s.slice(m[0].length));
    if (rename) out.push(splitName(rename[1]!, defaultSchema));
    return out;
  }
  m = new RegExp(
    String.raw`^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(${NAME})`,
    "i",
  ).exec(s);
  if (m) return [splitName(m[1]!, defaultSchema)];
  m = /^(?:DROP|TRUNCATE)\s+(?:TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?(.*)$/i.exec(s);
  if (m) {
    const list = m[1]!.replace(/\s+(?:RESTRICT|CASCADE|WAIT\s+\d+|NOWAIT)\b.*$/i, "");
    return (list.match(new RegExp(NAME, "g")) ?? []).map((n) => splitName(n, defaultSchema));
  }
  m = /^RENAME\s+TABLES?\s+(.*)$/i.exec(s);
  if (m) {
    return (m[1]!.match(new RegExp(NAME, "g")) ?? [])
      .filter((n) => !/^TO$/i.test(n))
      .map((n) => splitName(n, defaultSchema));
  }
  m = new RegExp(
    String.raw`^(?:CREATE|DROP|ALTER)\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(${IDENT})`,
    "i",
  ).exec(s);
  if (m) return [{ schema: unquote(m[1]!), table: undefined }];
  return [];
}
