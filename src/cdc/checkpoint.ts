import Database from "better-sqlite3";
import type mysql from "mysql2/promise";
import { SluiceError } from "../core/errors.ts";
import { openMysqlPool } from "../sinks/history/mysql.ts";
import { parseStoreUrl } from "../sinks/types.ts";

/**
 * Where `sluice cdc` remembers how far it got: one checkpoint per pipeline name, and the durable
 * table of open ranges of a partitioned catch-up. Embedded SQLite (WAL) by default, or a MySQL/MariaDB
 * table. The checkpoint is the position after the last transaction whose changes the sink has made
 * durable; everything after it may be replayed (at-least-once).
 */
export interface Checkpoint {
  file: string;
  offset: number;
  /** GTID of the last finished transaction, when known. */
  gtid: string | null;
  /** Binlog time (seconds) of the event at the checkpoint. */
  timestamp: number;
  /**
   * "Processed up to" (seconds): the binlog time reached, or, when the collector was at the head and
   * the source idle (heartbeats), the wall-clock time it was last known to be at the head.
   */
  processedTime: number;
  /** Events read by the pipeline's runs so far, and the last run's rate (events/s) at the save. */
  events?: number;
  rate?: number;
  /** Wall-clock time of the save (ms). */
  updatedAt: number;
}

export interface BinlogRange {
  id: number;
  /** Where the range starts and ends (end exclusive: the position after the range's last transaction). */
  startFile: string;
  startOffset: number;
  endFile: string;
  endOffset: number;
  /** The range's own checkpoint: where a worker resumes. */
  currentFile: string;
  currentOffset: number;
  /** Binlog time at the current position (seconds): the lag rule's "oldest open range" time. */
  currentTime: number;
  eventsTotal: number;
  eventsDone: number;
}

export type NewRange = Omit<BinlogRange, "id" | "currentFile" | "currentOffset" | "eventsDone">;

interface SqlDb {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  run(sql: string, params?: unknown[]): Promise<void>;
  tx(fn: (db: SqlDb) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

class SqliteDb implements SqlDb {
  constructor(readonly db: Database.Database) {}
  async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.db.prepare(sql).all(...params) as T[];
  }
  async run(sql: string, params: unknown[] = []): Promise<void> {
    this.db.prepare(sql).run(...params);
  }
  async tx(fn: (db: SqlDb) => Promise<void>): Promise<void> {
    // better-sqlite3 is synchronous: the statements fn awaits run at once, so BEGIN..COMMIT brackets them.
    this.db.exec("BEGIN IMMEDIATE");
    try {
      await fn(this);
      this.db.exec("COMMIT");
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

class MysqlDb implements SqlDb {
  constructor(readonly q: mysql.Pool | mysql.PoolConnection) {}
  async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.q.query(sql, params);
    return rows as T[];
  }
  async run(sql: string, params: unknown[] = []): Promise<void> {
    await this.q.query(sql, params);
  }
  async tx(fn: (db: SqlDb) => Promise<void>): Promise<void> {
    const conn = await (this.q as mysql.Pool).getConnection();
    try {
      await conn.beginTransaction();
      await fn(new MysqlDb(conn));
      await conn.commit();
    } catch (e) {
      await conn.rollback().catch(() => {});
      throw e;
    } finally {
      conn.release();
    }
  }
  async close(): Promise<void> {
    await (this.q as mysql.Pool).end();
  }
}

const SQLITE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS cdc_checkpoint (
    name TEXT PRIMARY KEY, file TEXT NOT NULL, pos INTEGER NOT NULL, gtid TEXT,
    timestamp INTEGER NOT NULL, processed_time INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    events INTEGER NOT NULL DEFAULT 0, rate REAL NOT NULL DEFAULT 0)`,
  `CREATE TABLE IF NOT EXISTS cdc_range (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
    start_file TEXT NOT NULL, start_pos INTEGER NOT NULL, end_file TEXT NOT NULL, end_pos INTEGER NOT NULL,
    cur_file TEXT NOT NULL, cur_pos INTEGER NOT NULL, cur_time INTEGER NOT NULL,
    events_total INTEGER NOT NULL, events_done INTEGER NOT NULL)`,
];

const MYSQL_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS cdc_checkpoint (
    name VARCHAR(191) NOT NULL PRIMARY KEY, file VARCHAR(255) NOT NULL, pos BIGINT UNSIGNED NOT NULL,
    gtid VARCHAR(255) NULL, timestamp BIGINT NOT NULL, processed_time BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    events BIGINT NOT NULL DEFAULT 0, rate DOUBLE NOT NULL DEFAULT 0
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS cdc_range (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(191) NOT NULL,
    start_file VARCHAR(255) NOT NULL, start_pos BIGINT UNSIGNED NOT NULL,
    end_file VARCHAR(255) NOT NULL, end_pos BIGINT UNSIGNED NOT NULL,
    cur_file VARCHAR(255) NOT NULL, cur_pos BIGINT UNSIGNED NOT NULL, cur_time BIGINT NOT NULL,
    events_total BIGINT NOT NULL, events_done BIGINT NOT NULL, KEY cdc_range_name (name)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];

/** Columns added after the first version of cdc_checkpoint: added to older tables on open. */
const ADDED_COLUMNS: Array<[string, { sqlite: string; mysql: string }]> = [
  ["events", { sqlite: "events INTEGER NOT NULL DEFAULT 0", mysql: "events BIGINT NOT NULL DEFAULT 0" }],
  ["rate", { sqlite: "rate REAL NOT NULL DEFAULT 0", mysql: "rate DOUBLE NOT NULL DEFAULT 0" }],
];

interface CheckpointRow {
  file: string;
  pos: number;
  gtid: string | null;
  timestamp: number;
  processed_time: number;
  events: number;
  rate: number;
  updated_at: number;
}

interface RangeRow {
  id: number;
  start_file: string;
  start_pos: number;
  end_file: string;
  end_pos: number;
  cur_file: string;
  cur_pos: number;
  cur_time: number;
  events_total: number;
  events_done: number;
}

export class CheckpointStore {
  private constructor(
    private readonly db: SqlDb,
    readonly kind: "sqlite" | "mysql",
  ) {}

  /** Opens `file:PATH` (SQLite, WAL) or `mysql://...`; creates the tables when missing. */
  static async open(url: string): Promise<CheckpointStore> {
    const t = parseStoreUrl(url);
    if (t.kind === "mysql") {
      const pool = await openMysqlPool(t.url, "checkpoint store");
      for (const ddl of MYSQL_SCHEMA) await pool.query(ddl);
      const [cols] = await pool.query(
        "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cdc_checkpoint'",
      );
      const have = new Set((cols as Array<{ name: string }>).map((c) => c.name));
      for (const [col, ddl] of ADDED_COLUMNS)
        if (!have.has(col)) await pool.query(`ALTER TABLE cdc_checkpoint ADD COLUMN ${ddl.mysql}`);
      return new CheckpointStore(new MysqlDb(pool), "mysql");
    }
    let db: Database.Database;
    try {
      db = new Database(t.path);
    } catch (e) {
      throw new SluiceError(
        "CHECKPOINT_OPEN",
        `cannot open the checkpoint store ${t.path}: ${(e as Error).message}`,
        {
          context: { path: t.path },
          cause: e,
        },
      );
    }
    db.pragma("busy_timeout = 10000");
    db.pragma("journal_mode = WAL");
    // Checkpoints are rare (every N transactions) and must survive a power cut: full sync.
    db.pragma("synchronous = FULL");
    for (const ddl of SQLITE_SCHEMA) db.exec(ddl);
    const have = new Set(
      (db.prepare("PRAGMA table_info(cdc_checkpoint)").all() as Array<{ name: string }>).map((c) => c.name),
    );
    for (const [col, ddl] of ADDED_COLUMNS)
      if (!have.has(col)) db.exec(`ALTER TABLE cdc_checkpoint ADD COLUMN ${ddl.sqlite}`);
    return new CheckpointStore(new SqliteDb(db), "sqlite");
  }

  async load(name: string): Promise<Checkpoint | undefined> {
    const rows = await this.db.all<CheckpointRow>(
      "SELECT file, pos, gtid, timestamp, processed_time, updated_at, events, rate FROM cdc_checkpoint WHERE name = ?",
      [name],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      file: r.file,
      offset: Number(r.pos),
      gtid: r.gtid,
      timestamp: Number(r.timestamp),
      processedTime: Number(r.processed_time),
      events: Number(r.events),
      rate: Number(r.rate),
      updatedAt: Number(r.updated_at),
    };
  }

  async save(name: string, cp: Omit<Checkpoint, "updatedAt">, db: SqlDb = this.db): Promise<void> {
    await db.run(
      "REPLACE INTO cdc_checkpoint (name, file, pos, gtid, timestamp, processed_time, updated_at, events, rate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      [
        name,
        cp.file,
        cp.offset,
        cp.gtid,
        cp.timestamp,
        cp.processedTime,
        Date.now(),
        cp.events ?? 0,
        cp.rate ?? 0,
      ],
    );
  }

  async ranges(name: string): Promise<BinlogRange[]> {
    const rows = await this.db.all<RangeRow>(
      "SELECT id, start_file, start_pos, end_file, end_pos, cur_file, cur_pos, cur_time, events_total, events_done FROM cdc_range WHERE name = ? ORDER BY id",
      [name],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      startFile: r.start_file,
      startOffset: Number(r.start_pos),
      endFile: r.end_file,
      endOffset: Number(r.end_pos),
      currentFile: r.cur_file,
      currentOffset: Number(r.cur_pos),
      currentTime: Number(r.cur_time),
      eventsTotal: Number(r.events_total),
      eventsDone: Number(r.events_done),
    }));
  }

  /**
   * Records the partitioner's ranges and moves the pipeline's checkpoint to their end, in one
   * transaction: from then on the ranges (not the checkpoint) say what is still to do.
   */
  async addRanges(
    name: string,
    ranges: readonly NewRange[],
    end: Omit<Checkpoint, "updatedAt">,
  ): Promise<void> {
    await this.db.tx(async (db) => {
      for (const r of ranges)
        await db.run(
          "INSERT INTO cdc_range (name, start_file, start_pos, end_file, end_pos, cur_file, cur_pos, cur_time, events_total, events_done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
          [
            name,
            r.startFile,
            r.startOffset,
            r.endFile,
            r.endOffset,
            r.startFile,
            r.startOffset,
            r.currentTime,
            r.eventsTotal,
          ],
        );
      await this.save(name, end, db);
    });
  }

  /** A worker's checkpoint inside its range. */
  async saveRange(id: number, file: string, offset: number, time: number, eventsDone: number): Promise<void> {
    await this.db.run(
      "UPDATE cdc_range SET cur_file = ?, cur_pos = ?, cur_time = ?, events_done = ? WHERE id = ?",
      [file, offset, time, eventsDone, id],
    );
  }

  /** A finished range goes away. */
  async removeRange(id: number): Promise<void> {
    await this.db.run("DELETE FROM cdc_range WHERE id = ?", [id]);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * "Processed up to time T" (seconds), the seed's rule: with no open range, the pipeline checkpoint's
 * processed time (the parent's end); otherwise the oldest open range's current position time.
 */
export function processedUpTo(
  cp: Checkpoint | undefined,
  ranges: readonly BinlogRange[],
): number | undefined {
  if (ranges.length === 0) return cp?.processedTime;
  return Math.min(...ranges.map((r) => r.currentTime));
}
