import { SluiceError } from "../core/errors.ts";
import { compilePredicate, type ExprScope } from "./expr.ts";

/** Row change kinds as the envelope names them. */
export type ChangeKind = "insert" | "update" | "delete";
export const CHANGE_KINDS: readonly ChangeKind[] = ["insert", "update", "delete"];

/**
 * What `sluice cdc run` keeps. Patterns are globs (`*` any run of characters, `?` one character)
 * matched against `schema.table` (or `schema.table.column` for columns), case-sensitively as the
 * server names them.
 */
export interface FilterSpec {
  /** Keep only tables matching one of these (`shop.*`); empty or absent = every table. */
  include?: readonly string[];
  /** Drop tables matching one of these; wins over include. */
  exclude?: readonly string[];
  /** Per-table kinds: `shop.price=delete`, `shop.*=insert,update`. A table no rule names keeps every kind. */
  kinds?: readonly string[];
  /** Keep only these columns (`shop.users.email`, `*.*.id`) of the tables the patterns name. */
  columns?: readonly string[];
  /** Drop these columns (`*.*.password`); wins over columns. */
  excludeColumns?: readonly string[];
  /** Row predicate (see expr.ts). */
  where?: string;
}

export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) re += ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${re}$`);
}

function tablePattern(p: string, what: string): RegExp {
  if (!p.includes(".")) {
    throw new SluiceError("CDC_FILTER", `${what} '${p}' has no schema part`, {
      context: { pattern: p },
      hint: "write schema.table globs, e.g. 'shop.*' or '*.users'",
    });
  }
  return globToRegExp(p);
}

interface ColumnRule {
  table: RegExp;
  column: RegExp;
}

function columnRule(p: string, what: string): ColumnRule {
  const parts = p.split(".");
  if (parts.length !== 3) {
    throw new SluiceError("CDC_FILTER", `${what} '${p}' is not schema.table.column`, {
      context: { pattern: p },
      hint: "e.g. 'shop.users.email' or '*.*.password'",
    });
  }
  return { table: globToRegExp(`${parts[0]}.${parts[1]}`), column: globToRegExp(parts[2]!) };
}

/** The per-table decision, computed once per table and cached. */
export interface TablePlan {
  keep: boolean;
  kinds: ReadonlySet<ChangeKind>;
  /** Undefined = every column; else the test for one column name. */
  column: ((name: string) => boolean) | undefined;
}

/**
 * A compiled filter. Table-level decisions are cached by `schema.table`, so the cost per rows event
 * is one map lookup; rows of tables nobody wants are never converted.
 */
export class ChangeFilter {
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];
  private readonly kindRules: Array<{ table: RegExp; kinds: Set<ChangeKind> }>;
  private readonly columnInclude: ColumnRule[];
  private readonly columnExclude: ColumnRule[];
  private readonly plans = new Map<string, TablePlan>();
  readonly where: ((scope: ExprScope) => boolean) | undefined;

  constructor(spec: FilterSpec = {}) {
    this.include = (spec.include ?? []).map((p) => tablePattern(p, "--include pattern"));
    this.exclude = (spec.exclude ?? []).map((p) => tablePattern(p, "--exclude pattern"));
    this.kindRules = (spec.kinds ?? []).map(parseKindRule);
    this.columnInclude = (spec.columns ?? []).map((p) => columnRule(p, "--columns pattern"));
    this.columnExclude = (spec.excludeColumns ?? []).map((p) => columnRule(p, "--exclude-columns pattern"));
    this.where = spec.where ? compilePredicate(spec.where) : undefined;
  }

  /** What to do with `schema.table`. */
  plan(schema: string, table: string): TablePlan {
    const key = `${schema}.${table}`;
    let plan = this.plans.get(key);
    if (plan) return plan;
    const included = this.include.length === 0 || this.include.some((r) => r.test(key));
    const excluded = this.exclude.some((r) => r.test(key));
    const rules = this.kindRules.filter((r) => r.table.test(key));
    const kinds = rules.length === 0 ? new Set(CHANGE_KINDS) : new Set(rules.flatMap((r) => [...r.kinds]));
    const inc = this.columnInclude.filter((r) => r.table.test(key)).map((r) => r.column);
    const exc = this.columnExclude.filter((r) => r.table.test(key)).map((r) => r.column);
    const column =
      inc.length === 0 && exc.length === 0
        ? undefined
        : (name: string) =>
            (inc.length === 0 || inc.some((r) => r.test(name))) && !exc.some((r) => r.test(name));
    plan = { keep: included && !excluded && kinds.size > 0, kinds, column };
    this.plans.set(key, plan);
    return plan;
  }

  /** Forget cached plans (nothing in them depends on the table's shape, so DDL needs no call). */
  clear(): void {
    this.plans.clear();
  }
}

function parseKindRule(rule: string): { table: RegExp; kinds: Set<ChangeKind> } {
  const eq = rule.indexOf("=");
  const bad = (why: string) =>
    new SluiceError("CDC_FILTER", `--kinds rule '${rule}': ${why}`, {
      context: { rule },
      hint: "e.g. --kinds 'shop.price=delete' or 'shop.*=insert,update'",
    });
  if (eq < 0) throw bad("expected schema.table=kind[,kind]");
  const kinds = new Set<ChangeKind>();
  for (const k of rule
    .slice(eq + 1)
    .split(",")
    .map((s) => s.trim().toLowerCase())) {
    if (k === "") continue;
    const norm = k === "write" ? "insert" : k;
    if (!(CHANGE_KINDS as readonly string[]).includes(norm)) throw bad(`unknown kind '${k}'`);
    kinds.add(norm as ChangeKind);
  }
  if (kinds.size === 0) throw bad("no kinds listed");
  return { table: tablePattern(rule.slice(0, eq).trim(), "--kinds pattern"), kinds };
}
