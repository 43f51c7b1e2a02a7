import mysql from "mysql2/promise";
import { applyColumnNames, type ColumnInfo, type ColumnNameSource } from "../../codecs/binlog/rows/names.ts";
import type { TableMapEvent } from "../../codecs/binlog/rows/types.ts";
import { SluiceError } from "../../core/errors.ts";
import { parseMysqlUrl, redactUrl } from "../../core/url.ts";
import { sslFromParams } from "../replication/tls-params.ts";
import { ddlTargets } from "./ddl.ts";

/**
 * Column names and types for table maps written with binlog_row_metadata=MINIMAL, from the server's
 * information_schema, tracked across the DDL seen in the stream. It also says what no table map can:
 * MariaDB's UUID/INET types and which LONGTEXT columns are MariaDB JSON (`dataType: "json"`).
 *
 * Per table it keeps schema versions keyed by binlog position: a version fetched while reading the
 * event at P is valid from the last DDL on that table before P (or the start) until the next DDL the
 * stream shows. A DDL on the table closes the current version; the next table map after it refetches
 * (lazily, in `prepare`). Events before and after an ALTER are thus named by their own version when
 * the stream is read as it is written (the normal case for change capture). Reading old binlogs
 * whose table has changed since is the one case a live information_schema cannot answer: the table
 * map is checked against the version (column count and types), and a mismatch is a SCHEMA_MISMATCH
 * error naming the table and position, never silently misnamed columns.
 */

export type Position = { file: string; offset: number };

interface Version {
  /** Valid for events at or after `from` (undefined: from the beginning)... */
  from: Position | undefined;
  /** ...and before `until` (undefined: until further notice). */
  until: Position | undefined;
  columns: readonly ColumnInfo[];
}

/** Runs one parameterised query; the resolver's only contact with the server. */
export type SchemaQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

export function comparePositions(a: Position, b: Position): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.offset - b.offset;
}

const COLUMNS_SQL = `SELECT COLUMN_NAME AS name, ORDINAL_POSITION AS ordinal, DATA_TYPE AS dataType,
  COLUMN_TYPE AS columnType, CHARACTER_SET_NAME AS charset, DATETIME_PRECISION AS fsp
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`;

/**
 * MariaDB's JSON type is an alias of LONGTEXT plus a column CHECK `json_valid(\`col\`)`: COLUMNS
 * says `longtext` (DATA_TYPE and COLUMN_TYPE alike) and only CHECK_CONSTRAINTS tells it apart. MariaDB
 * 10.2.22+ lists that check with the table's name (LEVEL `Column`, named after the column); a table
 * CHECK of exactly `json_valid(\`col\`)` makes a text column JSON the same way. Asked only for tables
 * with a text column.
 */
const JSON_CHECKS_SQL = `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
  WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`;

const TEXT_TYPES = new Set(["tinytext", "text", "mediumtext", "longtext"]);

/** The column a CHECK clause declares JSON (`json_valid(\`j\`)`, as the server prints it), else undefined. */
export function jsonCheckColumn(clause: string): string | undefined {
  const m = /^\s*json_valid\s*\(\s*`((?:[^`]|``)+)`\s*\)\s*$/i.exec(clause);
  return m ? m[1]!.replaceAll("``", "`") : undefined;
}

/**
 * Marks the text columns that a `json_valid` CHECK constrains as `dataType: "json"` (the names of the
 * CHECK_CONSTRAINTS rows' clauses); other columns are returned as they are.
 */
export function markJsonColumns(
  columns: ColumnInfo[],
  checks: ReadonlyArray<Record<string, unknown>>,
): ColumnInfo[] {
  const json = new Set<string>();
  for (const r of checks) {
    const clause = Buffer.isBuffer(r.clause) ? r.clause.toString("utf8") : String(r.clause ?? "");
    const name = jsonCheckColumn(clause);
    if (name !== undefined) json.add(name.toLowerCase());
  }
  return columns.map((c) =>
    TEXT_TYPES.has(c.dataType) && json.has(c.name.toLowerCase()) ? { ...c, dataType: "json" } : c,
  );
}

/** Labels of `enum('a','b''c')` / `set(...)` as information_schema.COLUMN_TYPE writes them. */
export function parseEnumLabels(columnType: string): string[] | undefined {
  const m = /^(?:enum|set)\((.*)\)$/is.exec(columnType.trim());
  if (!m) return undefined;
  const labels: string[] = [];
  const re = /'((?:[^'\\]|''|\\.)*)'/g;
  for (let r = re.exec(m[1]!); r !== null; r = re.exec(m[1]!)) {
    labels.push(r[1]!.replaceAll("''", "'").replace(/\\(.)/g, "$1"));
  }
  return labels;
}

export function rowToColumnInfo(r: Record<string, unknown>): ColumnInfo {
  const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString("utf8") : v == null ? undefined : String(v));
  const dataType = (text(r.dataType) ?? "").toLowerCase();
  const columnType = text(r.columnType) ?? "";
  const info: ColumnInfo = {
    name: text(r.name) ?? "",
    ordinal: Number(r.ordinal),
    dataType,
    unsigned: /\bunsigned\b/i.test(columnType),
  };
  if (dataType === "enum" || dataType === "set") {
    const labels = parseEnumLabels(columnType);
    if (labels) info.labels = labels;
  }
  if (r.fsp !== null && r.fsp !== undefined) info.fsp = Number(r.fsp);
  const cs = text(r.charset);
  if (cs !== undefined) info.charset = cs;
  return info;
}

export class SchemaResolver implements ColumnNameSource {
  readonly #query: SchemaQuery;
  readonly #close: () => Promise<void>;
  readonly #versions = new Map<string, Version[]>();
  /** Last DDL position seen per table key (and per schema, key `schema.`). */
  readonly #lastDdl = new Map<string, Position>();
  /** False once the server showed it has no CHECK_CONSTRAINTS view with table names. */
  #checkConstraints = true;
  /** Number of information_schema fetches (for tests and metrics). */
  fetches = 0;

  constructor(query: SchemaQuery, close: () => Promise<void> = async () => {}) {
    this.#query = query;
    this.#close = close;
  }

  /**
   * A resolver with its own small mysql2 pool (1 connection) to `url`: password from the URL or
   * SLUICE_MYSQL_PASSWORD, TLS from `?ssl=true[&sslCa=FILE][&sslVerify=false]` or `options.ssl`
   * (verified against the system CAs). Nothing connects before the first table is asked for.
   */
  static async connect(url: string, options: { ssl?: boolean } = {}): Promise<SchemaResolver> {
    const parsed = parseMysqlUrl(url);
    const ssl =
      sslFromParams(new URL(url).searchParams) ?? (options.ssl ? { rejectUnauthorized: true } : undefined);
    const pool = mysql.createPool({
      host: parsed.host,
      port: parsed.port,
      user: parsed.user,
      connectionLimit: 1,
      charset: "utf8mb4",
      ...(ssl === undefined ? {} : { ssl }),
      ...(parsed.password === undefined ? {} : { password: parsed.password }),
      ...(parsed.socketPath === undefined ? {} : { socketPath: parsed.socketPath }),
    });
    const query: SchemaQuery = async (sql, params) => {
      try {
        const [rows] = await pool.query(sql, params);
        return rows as Array<Record<string, unknown>>;
      } catch (e) {
        throw new SluiceError(
          "SCHEMA_QUERY_FAILED",
          `information_schema query failed: ${(e as Error).message}`,
          {
            context: { url: redactUrl(url) },
            hint: "the resolver needs SELECT on information_schema (any account sees the columns of tables it can read)",
            cause: e,
          },
        );
      }
    };
    return new SchemaResolver(query, () => pool.end());
  }

  async close(): Promise<void> {
    await this.#close();
  }

  static key(schema: string, table: string): string {
    return `${schema}.${table}`;
  }

  /**
   * Tells the resolver about a QUERY event. DDL on a table closes its current schema version at
   * `at`; the next table map of it refetches. Returns the tables it invalidated.
   */
  noteQuery(sql: string, defaultSchema: string, at: Position): string[] {
    const touched: string[] = [];
    for (const t of ddlTargets(sql, defaultSchema)) {
      if (t.table === undefined) {
        this.#lastDdl.set(`${t.schema}.`, at);
        for (const [key, versions] of this.#versions)
          if (key.startsWith(`${t.schema}.`)) {
            closeAt(versions, at);
            touched.push(key);
          }
        continue;
      }
      const key = SchemaResolver.key(t.schema, t.table);
      this.#lastDdl.set(key, at);
      const versions = this.#versions.get(key);
      if (versions) closeAt(versions, at);
      touched.push(key);
    }
    return touched;
  }

  /** Makes sure a version of `schema.table` valid at `at` is loaded; call before decoding its table map. */
  async prepare(schema: string, table: string, at: Position): Promise<void> {
    if (this.#find(schema, table, at) !== undefined) return;
    const rows = await this.#query(COLUMNS_SQL, [schema, table]);
    let columns = rows.map(rowToColumnInfo);
    if (this.#checkConstraints && columns.some((c) => TEXT_TYPES.has(c.dataType)))
      columns = markJsonColumns(columns, await this.#jsonChecks(schema, table));
    this.fetches++;
    const key = SchemaResolver.key(schema, table);
    const ddl = this.#lastDdlBefore(schema, table, at);
    const version: Version = { from: ddl, until: undefined, columns };
    const versions = this.#versions.get(key) ?? [];
    versions.push(version);
    this.#versions.set(key, versions);
  }

  /**
   * The CHECK_CONSTRAINTS rows of a table. Servers without that view (MariaDB before 10.2.22, MySQL
   * before 8.0.16) or without its TABLE_NAME column (MySQL, whose JSON is a type of its own) have no
   * JSON-by-constraint columns: the resolver stops asking them.
   */
  async #jsonChecks(schema: string, table: string): Promise<Array<Record<string, unknown>>> {
    try {
      return await this.#query(JSON_CHECKS_SQL, [schema, table]);
    } catch (e) {
      const err = e as { errno?: unknown; cause?: { errno?: unknown } };
      const errno = err.errno ?? err.cause?.errno;
      // ER_UNKNOWN_TABLE (no such information_schema view), ER_BAD_FIELD_ERROR (no TABLE_NAME column)
      if (errno !== 1109 && errno !== 1054) throw e;
      this.#checkConstraints = false;
      return [];
    }
  }

  /**
   * Loads the version valid at the table map's position and fills in the map's names, signedness,
   * labels, charsets and data types (SCHEMA_MISMATCH when they cannot belong together). Rows events
   * decoded after this see the filled-in columns: call it between a TABLE_MAP and its rows events.
   */
  async annotate(map: TableMapEvent): Promise<void> {
    await this.prepare(map.schema, map.table, map.position);
    applyColumnNames(map, this);
  }

  /** Installs a known version (e.g. a snapshot taken when the stream started). */
  seed(schema: string, table: string, columns: readonly ColumnInfo[], from?: Position): void {
    const key = SchemaResolver.key(schema, table);
    const versions = this.#versions.get(key) ?? [];
    versions.push({ from, until: undefined, columns });
    this.#versions.set(key, versions);
  }

  columnsAt(schema: string, table: string, position: Position): readonly ColumnInfo[] | undefined {
    const v = this.#find(schema, table, position);
    if (v === undefined || v.columns.length === 0) return undefined;
    return v.columns;
  }

  #find(schema: string, table: string, at: Position): Version | undefined {
    const versions = this.#versions.get(SchemaResolver.key(schema, table));
    if (!versions) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i]!;
      if (v.from !== undefined && comparePositions(at, v.from) < 0) continue;
      if (v.until !== undefined && comparePositions(at, v.until) >= 0) continue;
      return v;
    }
    return undefined;
  }

  #lastDdlBefore(schema: string, table: string, at: Position): Position | undefined {
    const candidates = [
      this.#lastDdl.get(SchemaResolver.key(schema, table)),
      this.#lastDdl.get(`${schema}.`),
    ];
    let best: Position | undefined;
    for (const c of candidates)
      if (
        c !== undefined &&
        comparePositions(c, at) <= 0 &&
        (best === undefined || comparePositions(c, best) > 0)
      )
        best = c;
    return best;
  }
}

function closeAt(versions: Version[], at: Position): void {
  for (const v of versions) {
    if (v.until !== undefined) continue;
    if (v.from !== undefined && comparePositions(at, v.from) < 0) continue;
    v.until = at;
  }
}
