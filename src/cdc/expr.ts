import { SluiceError } from "../core/errors.ts";

/**
 * The row predicate language of `sluice cdc run --where`: a tiny, closed grammar, parsed here and
 * evaluated by walking the tree (never compiled to JavaScript, never eval'd).
 *
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | cmp
 *   cmp     := operand ( op operand | "is" ["not"] "null" | ["not"] "in" "(" operand ("," operand)* ")"
 *                        | ["not"] "like" operand )?
 *   op      := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
 *   operand := number | 'string' | "string" | true | false | null | ident("." ident)* | "(" expr ")"
 *
 * Identifiers: `before.<column>`, `after.<column>`, `kind` (insert|update|delete), `schema`, `table`.
 * A column the image does not have is null. Comparisons follow SQL's spirit: anything compared with
 * null is unknown (false), `is null` tests it; a number and a numeric string compare as numbers
 * (DECIMAL columns arrive as strings); `like` takes `%` and `_`.
 */
export type ExprValue = string | number | boolean | null;

export type Expr =
  | { t: "lit"; v: ExprValue }
  | { t: "ref"; path: string[] }
  | { t: "and" | "or"; l: Expr; r: Expr }
  | { t: "not"; e: Expr }
  | { t: "cmp"; op: "=" | "!=" | "<" | "<=" | ">" | ">="; l: Expr; r: Expr }
  | { t: "isnull"; e: Expr; negate: boolean }
  | { t: "in"; e: Expr; list: Expr[]; negate: boolean }
  | { t: "like"; e: Expr; pattern: Expr; negate: boolean };

/** What a predicate sees of one row change. */
export interface ExprScope {
  kind: string;
  schema: string;
  table: string;
  before: Readonly<Record<string, unknown>> | undefined;
  after: Readonly<Record<string, unknown>> | undefined;
}

type Token =
  | { k: "num"; v: number; at: number }
  | { k: "str"; v: string; at: number }
  | { k: "id"; v: string; at: number }
  | { k: "op"; v: string; at: number }
  | { k: "end"; at: number };

function exprError(source: string, at: number, why: string): SluiceError {
  return new SluiceError("CDC_WHERE_SYNTAX", `${why} at position ${at + 1} of '${source}'`, {
    context: { expression: source, position: at + 1 },
    hint: "e.g. --where \"after.price > 100 and before.status = 'open'\"",
  });
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === "-" && /[0-9]/.test(src[i + 1] ?? "") && !isOperandEnd(out.at(-1)))) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
      out.push({ k: "num", v: Number(m![0]), at: start });
      i += m![0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let s = "";
      i++;
      for (;;) {
        if (i >= src.length) throw exprError(src, start, "unterminated string");
        const d = src[i]!;
        if (d === c) {
          if (src[i + 1] === c) {
            s += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === "\\" && i + 1 < src.length) {
          s += src[i + 1];
          i += 2;
          continue;
        }
        s += d;
        i++;
      }
      out.push({ k: "str", v: s, at: start });
      continue;
    }
    if (c === "`") {
      const end = src.indexOf("`", i + 1);
      if (end < 0) throw exprError(src, start, "unterminated `name`");
      out.push({ k: "id", v: src.slice(i + 1, end), at: start });
      i = end + 1;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i));
      out.push({ k: "id", v: m![0], at: start });
      i += m![0].length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (["<=", ">=", "!=", "<>", "=="].includes(two)) {
      out.push({ k: "op", v: two, at: start });
      i += 2;
      continue;
    }
    if ("=<>(),.".includes(c)) {
      out.push({ k: "op", v: c, at: start });
      i++;
      continue;
    }
    throw exprError(src, start, `unexpected character '${c}'`);
  }
  out.push({ k: "end", at: src.length });
  return out;
}

function isOperandEnd(t: Token | undefined): boolean {
  return t !== undefined && (t.k === "num" || t.k === "str" || t.k === "id" || (t.k === "op" && t.v === ")"));
}

const KEYWORDS = new Set(["and", "or", "not", "is", "null", "in", "like", "true", "false"]);

/** Parses a `--where` expression; throws CDC_WHERE_SYNTAX with the position of the problem. */
export function parseExpr(source: string): Expr {
  const toks = tokenize(source);
  let p = 0;
  const peek = (): Token => toks[p]!;
  const isKw = (t: Token, kw: string) => t.k === "id" && t.v.toLowerCase() === kw;
  const isOp = (t: Token, op: string) => t.k === "op" && t.v === op;
  const expectOp = (op: string) => {
    const t = peek();
    if (!isOp(t, op)) throw exprError(source, t.at, `expected '${op}'`);
    p++;
  };

  const parseOr = (): Expr => {
    let l = parseAnd();
    while (isKw(peek(), "or")) {
      p++;
      l = { t: "or", l, r: parseAnd() };
    }
    return l;
  };
  const parseAnd = (): Expr => {
    let l = parseNot();
    while (isKw(peek(), "and")) {
      p++;
      l = { t: "and", l, r: parseNot() };
    }
    return l;
  };
  const parseNot = (): Expr => {
    if (isKw(peek(), "not")) {
      p++;
      return { t: "not", e: parseNot() };
    }
    return parseCmp();
  };
  const parseCmp = (): Expr => {
    const l = parseOperand();
    const t = peek();
    if (t.k === "op" && ["=", "==", "!=", "<>", "<", "<=", ">", ">="].includes(t.v)) {
      p++;
      const op = t.v === "==" ? "=" : t.v === "<>" ? "!=" : (t.v as "=" | "!=" | "<" | "<=" | ">" | ">=");
      return { t: "cmp", op, l, r: parseOperand() };
    }
    if (isKw(t, "is")) {
      p++;
      const negate = isKw(peek(), "not");
      if (negate) p++;
      if (!isKw(peek(), "null")) throw exprError(source, peek().at, "expected 'null' after 'is'");
      p++;
      return { t: "isnull", e: l, negate };
    }
    let negate = false;
    if (isKw(t, "not") && (isKw(toks[p + 1]!, "in") || isKw(toks[p + 1]!, "like"))) {
      negate = true;
      p++;
    }
    if (isKw(peek(), "in")) {
      p++;
      expectOp("(");
      const list = [parseOperand()];
      while (isOp(peek(), ",")) {
        p++;
        list.push(parseOperand());
      }
      expectOp(")");
      return { t: "in", e: l, list, negate };
    }
    if (isKw(peek(), "like")) {
      p++;
      return { t: "like", e: l, pattern: parseOperand(), negate };
    }
    return l;
  };
  const parseOperand = (): Expr => {
    const t = peek();
    if (t.k === "num" || t.k === "str") {
      p++;
      return { t: "lit", v: t.v };
    }
    if (isOp(t, "(")) {
      p++;
      const e = parseOr();
      expectOp(")");
      return e;
    }
    if (t.k === "id") {
      const low = t.v.toLowerCase();
      if (low === "true" || low === "false") {
        p++;
        return { t: "lit", v: low === "true" };
      }
      if (low === "null") {
        p++;
        return { t: "lit", v: null };
      }
      if (KEYWORDS.has(low)) throw exprError(source, t.at, `unexpected '${t.v}'`);
      p++;
      const path = [t.v];
      while (isOp(peek(), ".")) {
        p++;
        const n = peek();
        if (n.k !== "id") throw exprError(source, n.at, "expected a name after '.'");
        path.push(n.v);
        p++;
      }
      checkRef(source, t.at, path);
      return { t: "ref", path };
    }
    throw exprError(source, t.at, t.k === "end" ? "unexpected end" : "expected a value or a name");
  };

  const e = parseOr();
  if (peek().k !== "end") throw exprError(source, peek().at, "unexpected text");
  return e;
}

function checkRef(source: string, at: number, path: string[]): void {
  const head = path[0]!.toLowerCase();
  if ((head === "before" || head === "after") && path.length === 2) return;
  if ((head === "kind" || head === "schema" || head === "table") && path.length === 1) return;
  throw exprError(
    source,
    at,
    `unknown name '${path.join(".")}' (use before.<column>, after.<column>, kind, schema, table)`,
  );
}

function resolve(path: string[], scope: ExprScope): ExprValue {
  const head = path[0]!.toLowerCase();
  if (head === "kind") return scope.kind;
  if (head === "schema") return scope.schema;
  if (head === "table") return scope.table;
  const image = head === "before" ? scope.before : scope.after;
  const v = image?.[path[1]!];
  if (v === undefined || v === null) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return v.toString();
  return JSON.stringify(v);
}

function evalValue(e: Expr, scope: ExprScope): ExprValue {
  switch (e.t) {
    case "lit":
      return e.v;
    case "ref":
      return resolve(e.path, scope);
    default:
      return evalBool(e, scope);
  }
}

const NUMERIC = /^\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*$/;

/** -1/0/1, or undefined when either side is null (SQL's unknown). */
function compare(a: ExprValue, b: ExprValue): number | undefined {
  if (a === null || b === null) return undefined;
  if (typeof a === "number" || typeof b === "number") {
    const x = typeof a === "number" ? a : typeof a === "string" && NUMERIC.test(a) ? Number(a) : Number.NaN;
    const y = typeof b === "number" ? b : typeof b === "string" && NUMERIC.test(b) ? Number(b) : Number.NaN;
    if (!Number.isNaN(x) && !Number.isNaN(y)) return x < y ? -1 : x > y ? 1 : 0;
  }
  const s = String(a);
  const t = String(b);
  return s < t ? -1 : s > t ? 1 : 0;
}

function likeToRegExp(pattern: string): RegExp {
  let re = "";
  for (const ch of pattern)
    re += ch === "%" ? ".*" : ch === "_" ? "." : ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${re}$`, "s");
}

function evalBool(e: Expr, scope: ExprScope): boolean {
  switch (e.t) {
    case "lit":
      return e.v !== null && e.v !== false && e.v !== 0 && e.v !== "";
    case "ref": {
      const v = resolve(e.path, scope);
      return v !== null && v !== false && v !== 0 && v !== "";
    }
    case "and":
      return evalBool(e.l, scope) && evalBool(e.r, scope);
    case "or":
      return evalBool(e.l, scope) || evalBool(e.r, scope);
    case "not":
      return !evalBool(e.e, scope);
    case "cmp": {
      const c = compare(evalValue(e.l, scope), evalValue(e.r, scope));
      if (c === undefined) return false;
      switch (e.op) {
        case "=":
          return c === 0;
        case "!=":
          return c !== 0;
        case "<":
          return c < 0;
        case "<=":
          return c <= 0;
        case ">":
          return c > 0;
        case ">=":
          return c >= 0;
      }
      return false;
    }
    case "isnull":
      return (evalValue(e.e, scope) === null) !== e.negate;
    case "in": {
      const v = evalValue(e.e, scope);
      if (v === null) return false;
      return e.list.some((x) => compare(v, evalValue(x, scope)) === 0) !== e.negate;
    }
    case "like": {
      const v = evalValue(e.e, scope);
      const pat = evalValue(e.pattern, scope);
      if (v === null || pat === null) return false;
      return likeToRegExp(String(pat)).test(String(v)) !== e.negate;
    }
  }
}

/** A compiled predicate: parse once, test every row change. */
export function compilePredicate(source: string): (scope: ExprScope) => boolean {
  const tree = parseExpr(source);
  return (scope) => evalBool(tree, scope);
}
