import type { BinlogEvent } from "../../codecs/binlog/events.ts";
import {
  applyColumnNames,
  type ColumnDef,
  type ColumnInfo,
  type TableMapEvent,
} from "../../codecs/binlog/rows/index.ts";
import { isSluiceError, SluiceError } from "../../core/errors.ts";
import type { SchemaResolver } from "./resolver.ts";

/**
 * The schema resolver applied to a decoded event stream (`binlog stream`, `binlog read --schema-from`;
 * `cdc`, whose table maps are never reused, calls `resolver.annotate` itself): every table map, with
 * FULL metadata as with MINIMAL, gets what information_schema adds
 * (names without COLUMN_NAME metadata, MariaDB's JSON/UUID/INET types, ...), and every QUERY event is
 * shown to the resolver so that DDL closes the versions of the tables it names. information_schema
 * is asked once per table and schema version, not per event.
 *
 * A filled-in table map gets its own columns (the decoded ones are never changed), the same array
 * for every map of the same decoded columns and schema version: writers that cache per columns array
 * (the JSON lines' row plans) keep doing so across the table maps a server writes before each statement,
 * and a table map a codec reuses (deferredRowsCodec) is filled in afresh from its decoded columns.
 */
export class TableMapAnnotator {
  readonly #resolver: SchemaResolver;
  /** Filled-in columns by the decoded columns and the schema version they were filled from. */
  readonly #filled = new WeakMap<ColumnDef[], Map<readonly ColumnInfo[], ColumnDef[]>>();
  /** The decoded columns of filled-in ones: a table map reused by the decoder may carry them. */
  readonly #decodedOf = new WeakMap<ColumnDef[], ColumnDef[]>();
  /** Added to the hint of the resolver's errors (SCHEMA_*): how the command reads without a schema. */
  readonly #hint: string | undefined;

  constructor(resolver: SchemaResolver, options: { hint?: string } = {}) {
    this.#resolver = resolver;
    this.#hint = options.hint;
  }

  /**
   * Sees one event, in stream order. A table map is filled in (the returned promise) before any rows
   * event after it is read; QUERY events are noted at once (undefined is returned for every other event).
   */
  observe(ev: BinlogEvent): Promise<void> | undefined {
    switch (ev.type) {
      case "table_map":
        return ev.tableMap === undefined ? undefined : this.annotate(ev.tableMap);
      case "query":
      case "mariadb_query_compressed":
        this.#resolver.noteQuery(ev.query, ev.database, ev.position);
        return undefined;
      default:
        return undefined;
    }
  }

  /** Replaces `map.columns` with columns filled in from the schema version valid at the map's position. */
  async annotate(map: TableMapEvent): Promise<void> {
    try {
      await this.#annotate(map);
    } catch (e) {
      if (this.#hint === undefined || !isSluiceError(e) || !e.code.startsWith("SCHEMA_")) throw e;
      throw new SluiceError(e.code, e.message, {
        context: e.context,
        hint: e.hint === undefined ? this.#hint : `${e.hint}; ${this.#hint}`,
        cause: e,
      });
    }
  }

  async #annotate(map: TableMapEvent): Promise<void> {
    const decoded = this.#decodedOf.get(map.columns) ?? map.columns;
    await this.#resolver.prepare(map.schema, map.table, map.position);
    const info = this.#resolver.columnsAt(map.schema, map.table, map.position);
    if (info === undefined) {
      // a table the account cannot see, or one dropped since: what the binlog says
      map.columns = decoded;
      return;
    }
    let byVersion = this.#filled.get(decoded);
    if (byVersion === undefined) {
      byVersion = new Map();
      this.#filled.set(decoded, byVersion);
    }
    let columns = byVersion.get(info);
    if (columns === undefined) {
      const copy = { ...map, columns: decoded.map((c) => ({ ...c })) };
      applyColumnNames(copy, this.#resolver);
      columns = copy.columns;
      byVersion.set(info, columns);
      this.#decodedOf.set(columns, decoded);
    }
    map.columns = columns;
  }
}
