import mysql from "mysql2/promise";
import { SluiceError } from "../../core/errors.ts";
import { parseMysqlUrl, redactUrl } from "../../core/url.ts";
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

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS binlog (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    gtid VARCHAR(255) NULL,
    file VARCHAR(255) NOT NULL,
    pos BIGINT UNSIGNED NOT NULL,
    server_id INT UNSIGNED NOT NULL,
    timestamp BIGINT NOT NULL,
    UNIQUE KEY binlog_position (file, pos),
    KEY binlog_gtid (gtid),
    KEY binlog_time (timestamp)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS \`row\` (
    binlog_id BIGINT UNSIGNED NOT NULL,
    event_pos BIGINT UNSIGNED NOT NULL,
    row_index INT UNSIGNED NOT NULL,
    schema_name VARCHAR(64) NOT NULL,
    table_name VARCHAR(64) NOT NULL,
    kind ENUM('insert','update','delete') NOT NULL,
    pk VARCHAR(768) NULL,
    PRIMARY KEY (binlog_id, event_pos, row_index),
    KEY row_table_pk (schema_name, table_name, pk(500))
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE IF NOT EXISTS \`column\` (
    binlog_id BIGINT UNSIGNED NOT NULL,
    event_pos BIGINT UNSIGNED NOT NULL,
    row_index INT UNSIGNED NOT NULL,
    name VARCHAR(64) NOT NULL,
    ord SMALLINT UNSIGNED NOT NULL,
    before_value LONGTEXT NULL,
    after_value LONGTEXT NULL,
    PRIMARY KEY (binlog_id, event_pos, row_index, name)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];

/** Opens a mysql2 pool on a `mysql://` URL, creating the database when the URL names one that is missing. */
export async function openMysqlPool(url: string, what: string): Promise<mysql.Pool> {
  const t = parseMysqlUrl(url);
  const base = {
    host: t.host,
    port: t.port,
    user: t.user,
    ...(t.password !== undefined ? { password: t.password } : {}),
    ...(t.socketPath !== undefined ? { socketPath: t.socketPath } : {}),
    supportBigNumbers: true,
    bigNumberStrings: false,
    connectionLimit: 4,
  };
  try {
    if (t.database) {
      const c = await mysql.createConnection(base);
      await c.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(t.database)}`);
      await c.end();
    }
    const pool = mysql.createPool({ ...base, ...(t.database ? { database: t.database } : {}) });
    await pool.query("SELECT 1");
    return pool;
  } catch (e) {
    throw new SluiceError(
      "HISTORY_OPEN",
      `cannot open the ${what} at ${redactUrl(url)}: ${(e as Error).message}`,
      {
        context: { url: redactUrl(url) },
        hint: "check the URL, that the server runs, and that the user may CREATE, INSERT and SELECT there",
        cause: e,
      },
    );
  }
}

/** The change-history store in a MySQL/MariaDB database (InnoDB, INSERT IGNORE on position keys). */
export class MysqlHistoryStore implements HistoryStore {
  readonly kind = "mysql" as const;

  private constructor(readonly pool: mysql.Pool) {}

  static async open(url: string): Promise<MysqlHistoryStore> {
    const pool = await openMysqlPool(url, "history store");
    for (const ddl of SCHEMA) await pool.query(ddl);
    return new MysqlHistoryStore(pool);
  }

  async writeChunk(chunk: ChangeChunk): Promise<void> {
    await this.writeChunks([chunk]);
  }

  async writeChunks(chunks: readonly ChangeChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const conn = await this.pool.getConnection();
    let current: ChangeChunk | undefined;
    try {
      await conn.beginTransaction();
      for (const chunk of chunks) {
        current = chunk;
        const b = binlogRecordOf(chunk);
        await conn.query(
          "INSERT IGNORE INTO binlog (gtid, file, pos, server_id, timestamp) VALUES (?, ?, ?, ?, ?)",
          [b.gtid, b.file, b.pos, b.serverId, b.timestamp],
        );
        const [found] = await conn.query("SELECT id FROM binlog WHERE file = ? AND pos = ?", [b.file, b.pos]);
        const id = (found as Array<{ id: number }>)[0]!.id;
        const { rows, columns } = chunkParams(id, chunk.changes);
        if (rows.length > 0)
          await conn.query(
            "INSERT IGNORE INTO `row` (binlog_id, event_pos, row_index, schema_name, table_name, kind, pk) VALUES ?",
            [rows],
          );
        if (columns.length > 0)
          await conn.query(
            "INSERT IGNORE INTO `column` (binlog_id, event_pos, row_index, name, ord, before_value, after_value) VALUES ?",
            [columns],
          );
      }
      await conn.commit();
    } catch (e) {
      await conn.rollback().catch(() => {});
      const t = current?.transaction;
      throw new SluiceError("HISTORY_WRITE", `writing transaction ${t?.id} failed: ${(e as Error).message}`, {
        context: { file: t?.file, offset: t?.offset, chunk: current?.chunk },
        hint: "the collector resumes from its last checkpoint when restarted; nothing is stored twice",
        cause: e,
      });
    } finally {
      conn.release();
    }
  }

  async query(q: HistoryQuery): Promise<HistoryEntry[]> {
    const { sql, params } = historySql(q, (n) => `\`${n}\``);
    const [lines] = await this.pool.query(sql, params);
    return groupEntries(lines as Parameters<typeof groupEntries>[0]);
  }

  async counts(): Promise<HistoryCounts> {
    const one = async (t: string) => {
      const [r] = await this.pool.query(`SELECT count(*) AS n FROM ${t}`);
      return Number((r as Array<{ n: number }>)[0]!.n);
    };
    return { binlog: await one("binlog"), row: await one("`row`"), column: await one("`column`") };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
