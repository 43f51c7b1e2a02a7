/**
 * Query fingerprints: the text of a statement with what varies between executions taken out, so that
 * `SELECT * FROM t WHERE id = 7` and `select *  from t where id=12 -- x` count as one query.
 *
 * - string, number, hex and bit literals become `?` (backquoted identifiers are kept as they are);
 * - comments go (`/* *\/`, `-- `, `#`), except that a version comment `/*!... *\/` keeps its body;
 * - whitespace collapses to one space; everything outside identifiers is lowercased;
 * - `IN (?, ?, ...)` becomes `in(?+)` and `VALUES (...), (...)` becomes `values(?+)` (pt-query-digest's
 *   spelling: no space before a parenthesis).
 * One pass over the text, no regular expression over the whole statement except the two list folds.
 */
export function fingerprint(sql: string): string {
  let out = "";
  const n = sql.length;
  let i = 0;
  let space = false;
  const emit = (s: string) => {
    if (space && out.length > 0) out += " ";
    space = false;
    out += s;
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
      space = true;
      i++;
    } else if (c === "/" && next === "*") {
      if (sql[i + 2] === "!") {
        // Version comment: its content is SQL the server runs. Skip the marker and version digits.
        i += 3;
        while (i < n && sql[i]! >= "0" && sql[i]! <= "9") i++;
        continue;
      }
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      space = true;
    } else if (c === "*" && next === "/") {
      i += 2; // end of a version comment
    } else if (
      (c === "-" && next === "-" && (sql[i + 2] === " " || sql[i + 2] === "\t" || i + 2 >= n)) ||
      c === "#"
    ) {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      space = true;
    } else if (c === "'" || c === '"') {
      i = skipQuoted(sql, i, c);
      emit("?");
    } else if (c === "`") {
      const end = skipQuoted(sql, i, "`");
      emit(sql.slice(i, end));
      i = end;
    } else if ((c === "x" || c === "X" || c === "b" || c === "B") && next === "'" && !identChar(sql[i - 1])) {
      i = skipQuoted(sql, i + 1, "'");
      emit("?");
    } else if (isDigit(c) || (c === "." && isDigit(next))) {
      if (identChar(sql[i - 1]) && out.length > 0 && !space) {
        // Part of an identifier such as t1 or col_2.
        out += c;
        i++;
        continue;
      }
      if (c === "0" && (next === "x" || next === "X")) {
        i += 2;
        while (i < n && /[0-9a-fA-F]/.test(sql[i]!)) i++;
      } else {
        while (i < n && (isDigit(sql[i]) || sql[i] === ".")) i++;
        if (
          i < n &&
          (sql[i] === "e" || sql[i] === "E") &&
          (isDigit(sql[i + 1]) || sql[i + 1] === "-" || sql[i + 1] === "+")
        ) {
          i += 2;
          while (i < n && isDigit(sql[i])) i++;
        }
      }
      if (identChar(sql[i])) {
        // 1abc is an identifier in MySQL.
        const start = i;
        while (i < n && identChar(sql[i])) i++;
        emit(sql.slice(start, i).toLowerCase());
      } else emit("?");
    } else {
      emit(c.toLowerCase());
      i++;
    }
  }
  const spaced = out
    // Like pt-query-digest: no space before "(" (count(*), in(?+), values(?+), t(a, b)).
    .replace(/ ?\( ?/g, "(")
    .replace(/ ?, ?/g, ", ")
    .replace(/ \)/g, ")")
    .replace(/ ?(<=>|<=|>=|<>|!=|=|<|>) ?/g, "$1")
    // A minus sign before a literal where no operand precedes it belongs to the literal.
    .replace(/([=<>(,]|^) ?- ?\?/g, "$1?")
    .trim();
  return foldLists(spaced);
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function identChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

/** Where the quoted text starting at `start` ends (after its closing quote); doubled quotes and, outside backquotes, backslashes escape. */
export function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "\\" && quote !== "`") i += 2;
    else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}

function foldLists(s: string): string {
  return s
    .replace(/\bin\(\?(?:, \?)*\)/g, "in(?+)")
    .replace(
      /\bvalues\((?:\?|null)(?:, (?:\?|null))*\)(?:, \((?:\?|null)(?:, (?:\?|null))*\))*/g,
      "values(?+)",
    );
}
