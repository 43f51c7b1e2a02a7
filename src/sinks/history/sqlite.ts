import Database from "better-sqlite3";
import { SluiceError } from "../../core/errors.ts";
import type { ChangeChunk } from "../types.ts";
import {
  binlogRecordOf,
  chunkParams,
  groupEntries,
  type HistoryCounts,
  type HistoryEntry,
  type HistoryQuery,
  type HistoryStore,
  historySql,
} from "./records.ts";

/** Rows per multi-row INSERT (7 parameters each, far below SQLite's 32766). */
const BATCH = 200;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS binlog (
  id INTEGER PRIMARY KEY,
  gtid TEXT,
  file TEXT NOT NULL,
  pos INTEGER NOT NULL,
  server_id INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  UNIQUE (file, pos)
);
CREATE INDEX IF NOT EXISTS binlog_gtid ON binlog (gtid);
CREATE TABLE IF NOT EXISTS "row" (
  binlog_id INTEGER NOT NULL,
  event_pos INTEGER NOT NULL,
  row_index INTEGER NOT NULL,
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  kind TEXT NOT NULL,
  pk TEXT,
  PRIMARY KEY (binlog_id, event_pos, row_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS row_table_pk ON "row" (schema_name, table_name, pk);
CREATE TABLE IF NOT EXISTS "column" (
  binlog_id INTEGER NOT NULL,
  event_pos INTEGER NOT NULL,
  row_index INTEGER NOT NULL,
  name TEXT NOT NULL,
  ord INTEGER NOT NULL,
  before_value TEXT,
  after_value TEXT,
  PRIMARY KEY (binlog_id, event_pos, row_index, name)
) WITHOUT ROWID;
`;

/** The change-history store in an embedded SQLite file (WAL). */
export class SqliteHistoryStore implements HistoryStore {
  readonly kind = "sqlite" as const;
  readonly db: Database.Database;
  private readonly insertBinlog: Database.Statement;
  private readonly selectBinlog: Database.Statement;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly writeTx: (chunks: readonly ChangeChunk[]) => void;

  constructor(path: string) {
    try {
      this.db = new Database(path);
    } catch (e) {
      throw new SluiceError(
        "HISTORY_OPEN",
        `cannot open the history store ${path}: ${(e as Error).message}`,
        {
          context: { path },
          hint: "check the path and its directory's permissions",
          cause: e,
        },
      );
    }
    this.db.pragma("busy_timeout = 10000");
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(SCHEMA);
    this.insertBinlog = this.db.prepare(
      "INSERT OR IGNORE INTO binlog (gtid, file, pos, server_id, timestamp) VALUES (?, ?, ?, ?, ?)",
    );
    this.selectBinlog = this.db.prepare("SELECT id FROM binlog WHERE file = ? AND pos = ?").pluck();
    this.writeTx = this.db.transaction((chunks: readonly ChangeChunk[]) => {
      for (const chunk of chunks) this.writeOne(chunk);
    });
  }

  private writeOne(chunk: ChangeChunk): void {
    {
      const b = binlogRecordOf(chunk);
      this.insertBinlog.run(b.gtid, b.file, b.pos, b.serverId, b.timestamp);
      const id = this.selectBinlog.get(b.file, b.pos) as number;
      const { rows, columns } = chunkParams(id, chunk.changes);
      // Every key is a position: what a replay brings again is ignored, row by row and column by column.
      this.insertMany(
        `INSERT OR IGNORE INTO "row" (binlog_id, event_pos, row_index, schema_name, table_name, kind, pk) VALUES `,
        7,
        rows,
      );
      this.insertMany(
        `INSERT OR IGNORE INTO "column" (binlog_id, event_pos, row_index, name, ord, before_value, after_value) VALUES `,
        7,
        columns,
      );
    }
  }

  /** Multi-row INSERTs of up to BATCH rows each (one statement per batch size, prepared once). */
  private insertMany(head: string, width: number, records: unknown[][]): void {
    for (let i = 0; i < records.length; i += BATCH) {
      const part = records.slice(i, i + BATCH);
      const key = `${head}${part.length}`;
      let stmt = this.statements.get(key);
      if (!stmt) {
        const one = `(${new Array(width).fill("?").join(", ")})`;
        stmt = this.db.prepare(head + new Array(part.length).fill(one).join(", "));
        this.statements.set(key, stmt);
      }
      stmt.run(part.flat());
    }
  }

  async writeChunk(chunk: ChangeChunk): Promise<void> {
    this.writeTx([chunk]);
  }

  async writeChunks(chunks: readonly ChangeChunk[]): Promise<void> {
    if (chunks.length > 0) this.writeTx(chunks);
  }

  async query(q: HistoryQuery): Promise<HistoryEntry[]> {
    const { sql, params } = historySql(q, (n) => `"${n}"`);
    return groupEntries(this.db.prepare(sql).all(...params) as Parameters<typeof groupEntries>[0]);
  }

  async counts(): Promise<HistoryCounts> {
    const one = (t: string) => this.db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number;
    return { binlog: one("binlog"), row: one(`"row"`), column: one(`"column"`) };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
