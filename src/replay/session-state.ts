import type { CommandEvent, ResponseEvent } from "../capture/events.ts";
import type { SessionState } from "./scheduler.ts";
import { boundSql, splitTopLevel, stripComments } from "./sql-text.ts";

/**
 * The state a session's commands leave in its server session, beyond its database and prepared
 * statements, followed from its captured commands so that a session resumed mid-way can get it back:
 * session variables (`SET [SESSION|LOCAL] x = ...`, `SET @@x = ...`, `SET NAMES`, `SET CHARACTER SET`,
 * `SET SESSION TRANSACTION ...`) and user variables assigned literals are rebuilt by running their
 * assignments again; user variables assigned otherwise (an expression, a query, `SELECT ... INTO @v`,
 * `@v := ...`), temporary tables and a transaction open at that point cannot be rebuilt safely and are
 * listed instead.
 */
export class SessionVariables {
  /** Assignments to run again, in their captured order: variable (lower case) and statement. */
  private assignments: Array<{ name: string; sql: string; literal: boolean }> = [];
  /** User variables (lower case, with `@`) whose last assignment cannot be run again, and how it was made. */
  private readonly unrestorable = new Map<string, string>();
  private readonly temporaryTables = new Set<string>();
  private transaction = false;
  private autocommit = true;

  /** Follows one captured command of the session. */
  note(e: CommandEvent): void {
    if (e.kind === "change_user" || e.kind === "reset_connection") {
      // The server starts the session over.
      this.assignments = [];
      this.unrestorable.clear();
      this.temporaryTables.clear();
      this.transaction = false;
      this.autocommit = true;
      return;
    }
    if (e.kind === "stmt_execute") {
      if (!this.autocommit) this.transaction = true;
      return;
    }
    if (e.kind !== "query" || e.sql === undefined) return;
    for (const statement of splitTopLevel(stripComments(e.sql), ";")) this.statement(statement.trim());
  }

  /** The statements that rebuild what can be rebuilt, in order. */
  restore(): string[] {
    return this.assignments.map((a) => a.sql);
  }

  /** What cannot be rebuilt, one line each (e.g. `temporary table t`, `open transaction`). */
  notRestored(): string[] {
    const out = [...this.unrestorable].map(([name, how]) => `user variable ${name} (${how})`);
    for (const t of this.temporaryTables) out.push(`temporary table ${t}`);
    if (this.transaction) out.push("open transaction");
    return out;
  }

  private statement(sql: string): void {
    if (sql === "") return;
    const head = /^\(*\s*([a-z_]+)(?:\s+([a-z_]+))?(?:\s+([a-z_]+))?/i.exec(sql);
    const [w1, w2, w3] = [head?.[1], head?.[2], head?.[3]].map((w) => w?.toLowerCase());
    if (w1 === "set") {
      this.set(sql.replace(/^set\s+/i, ""));
      return;
    }
    for (const [, name] of sql.matchAll(/(@(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|[\w$.]+))\s*:=/g))
      this.userVariable(name!, "assigned by a query");
    const into = /\binto\s+(@[^;]*?)(?:\s+(?:for|lock|from|where|group|having|order|limit)\b|\)?\s*$)/i.exec(
      sql,
    );
    if (into?.[1] && /^(?:select|with|\()/i.test(sql))
      for (const name of splitTopLevel(into[1], ",")) this.userVariable(name.trim(), "assigned by a query");
    if (
      w1 === "create" &&
      (w2 === "temporary" || (w2 === "or" && /^create\s+or\s+replace\s+temporary\b/i.test(sql)))
    ) {
      const m = /\btable\s+(?:if\s+not\s+exists\s+)?([`\w$.]+(?:\s*\.\s*[`\w$]+)?)/i.exec(sql);
      if (m?.[1]) this.temporaryTables.add(tableName(m[1]));
      return;
    }
    if (w1 === "drop" && (w2 === "table" || (w2 === "temporary" && w3 === "table"))) {
      const list = sql
        .replace(/^drop\s+(?:temporary\s+)?table\s+(?:if\s+exists\s+)?/i, "")
        .replace(/\s+(?:restrict|cascade)\s*$/i, "");
      for (const t of splitTopLevel(list, ",")) this.temporaryTables.delete(tableName(t.trim()));
      if (w2 === "temporary") return;
    }
    if (
      (w1 === "begin" && (w2 === undefined || w2 === "work")) ||
      (w1 === "start" && w2 === "transaction") ||
      (w1 === "xa" && (w2 === "start" || w2 === "begin"))
    ) {
      this.transaction = true;
      return;
    }
    if (
      ((w1 === "commit" || w1 === "rollback") && !/^rollback\s+(?:work\s+)?to\b/i.test(sql)) ||
      (w1 === "xa" && (w2 === "commit" || w2 === "rollback")) ||
      (w1 !== undefined && IMPLICIT_COMMIT.has(w1))
    ) {
      this.transaction = false;
      return;
    }
    if (!this.autocommit) this.transaction = true;
  }

  /** The body of a SET: assignments separated by commas, each scope keyword holding for those after it. */
  private set(body: string): void {
    if (/^(?:statement|password|role|default\s+role|transaction|global\s+transaction)\b/i.test(body)) return;
    if (/^(?:session|local)\s+transaction\b/i.test(body)) {
      this.keep("transaction characteristics", `SET ${body}`, true);
      return;
    }
    let scope = "session";
    for (let item of splitTopLevel(body, ",")) {
      item = item.trim();
      const modifier = /^(global|session|local|persist|persist_only)\s+/i.exec(item);
      if (modifier) {
        scope = modifier[1]!.toLowerCase();
        item = item.slice(modifier[0].length);
      }
      if (/^(?:names|character\s+set|charset)\b/i.test(item)) {
        this.keep("names", `SET ${item}`, true);
        continue;
      }
      const eq =
        /^(@@(?:(global|session|local|persist|persist_only)\.)?)?(@?(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|"[^"]*"|[\w$.]+))\s*:?=\s*([\s\S]*)$/i.exec(
          item,
        );
      if (!eq) continue;
      const [, sysPrefix, sysScope] = eq;
      const name = eq[3]!;
      const value = eq[4]!;
      if (name.startsWith("@")) {
        if (isLiteral(value)) {
          this.unrestorable.delete(name.toLowerCase());
          this.keep(name.toLowerCase(), `SET ${name} = ${value.trim()}`, true);
        } else this.userVariable(name, "not assigned a literal");
        continue;
      }
      const effective = sysPrefix ? (sysScope?.toLowerCase() ?? "session") : scope;
      if (effective !== "session" && effective !== "local") continue;
      const variable = name.toLowerCase();
      if (variable === "autocommit") {
        const on = !/^(?:0|off|false|'off')$/i.test(value.trim());
        if (on && !this.autocommit) this.transaction = false;
        this.autocommit = on;
      }
      this.keep(variable, `SET SESSION ${name} = ${value.trim()}`, isLiteral(value));
    }
  }

  private userVariable(name: string, how: string): void {
    const key = name.toLowerCase();
    this.assignments = this.assignments.filter((a) => a.name !== key);
    this.unrestorable.set(key, how);
  }

  /**
   * Keeps an assignment; a literal one replaces the earlier assignments of the same variable when only
   * literal assignments came after them (nothing in between could have read the value).
   */
  private keep(name: string, sql: string, literal: boolean): void {
    if (literal) {
      let i = this.assignments.length - 1;
      while (i >= 0 && this.assignments[i]!.literal) i--;
      this.assignments = this.assignments.filter((a, j) => j <= i || a.name !== name);
    }
    this.assignments.push({ name, sql, literal });
  }
}

/** Follows a command's session variables into a session's state. */
export function noteVariables(st: SessionState, e: CommandEvent): void {
  st.variables ??= new SessionVariables();
  // A prepared statement's execution is followed as its SQL with the captured parameters bound.
  const prepared = e.kind === "stmt_execute" ? st.statements.get(e.statementId ?? -1) : undefined;
  const sql = prepared === undefined ? undefined : boundSql(prepared, e.params);
  st.variables.note(sql === undefined ? e : { ...e, kind: "query", sql });
}

/**
 * A session's state after one more of its commands, with the source's response: its database, the
 * statements it has prepared and not closed, its variables.
 */
export function followCommand(st: SessionState, e: CommandEvent, response: ResponseEvent | undefined): void {
  if (e.kind === "init_db" && e.sql !== undefined && response?.ok !== false) st.db = e.sql;
  else if (e.db !== undefined) st.db = e.db;
  if (e.kind === "stmt_prepare" && e.sql !== undefined && response?.ok && response.statementId !== undefined)
    st.statements.set(response.statementId, e.sql);
  if (e.kind === "stmt_close" && e.statementId !== undefined) st.statements.delete(e.statementId);
  if (e.kind === "change_user" || e.kind === "reset_connection") st.statements.clear();
  noteVariables(st, e);
}

/** Statements after which a transaction is committed (implicit commit). */
const IMPLICIT_COMMIT = new Set([
  "create",
  "alter",
  "drop",
  "rename",
  "truncate",
  "grant",
  "revoke",
  "lock",
  "unlock",
]);

/** A literal value: number, string (with an optional character set introducer), NULL, TRUE/FALSE, hex, bits. */
export function isLiteral(value: string): boolean {
  return /^\s*(?:[-+]?\s*(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|(?:_\w+\s*)?(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")|null|true|false|on|off|default|0x[0-9a-f]+|x'[0-9a-f]*'|b'[01]*'|0b[01]+)\s*$/i.test(
    value,
  );
}

const tableName = (t: string) =>
  t
    .split(".")
    .map((p) => p.trim().replace(/^`|`$/g, ""))
    .join(".")
    .toLowerCase();
