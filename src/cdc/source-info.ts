import mysql from "mysql2/promise";
import { SluiceError } from "../core/errors.ts";
import { parseMysqlUrl, redactUrl } from "../core/url.ts";

/**
 * What `sluice cdc` asks the source server with plain queries (next to the replication stream): the
 * head, the binlog files, and primary keys from information_schema for table maps written without
 * primary-key metadata (binlog_row_metadata=MINIMAL).
 */
export class SourceInfo {
  private constructor(
    private readonly conn: mysql.Connection,
    readonly url: string,
  ) {}

  static async open(url: string): Promise<SourceInfo> {
    const t = parseMysqlUrl(url);
    try {
      const conn = await mysql.createConnection({
        host: t.host,
        port: t.port,
        user: t.user,
        ...(t.password !== undefined ? { password: t.password } : {}),
        ...(t.socketPath !== undefined ? { socketPath: t.socketPath } : {}),
        supportBigNumbers: true,
      });
      return new SourceInfo(conn, url);
    } catch (e) {
      throw new SluiceError(
        "CDC_SOURCE",
        `cannot query the source ${redactUrl(url)}: ${(e as Error).message}`,
        {
          context: { url: redactUrl(url) },
          hint: "the account needs REPLICATION SLAVE, REPLICATION CLIENT (BINLOG MONITOR on MariaDB) and SELECT",
          cause: e,
        },
      );
    }
  }

  /** The server's current binlog file and offset (SHOW MASTER STATUS). */
  async head(): Promise<{ file: string; offset: number }> {
    const [rows] = await this.conn.query("SHOW MASTER STATUS");
    const r = (rows as Array<{ File: string; Position: number | string }>)[0];
    if (!r)
      throw new SluiceError("CDC_SOURCE", "the source has no binary log (SHOW MASTER STATUS is empty)", {
        context: { url: redactUrl(this.url) },
        hint: "start the server with log_bin and binlog_format=ROW",
      });
    return { file: r.File, offset: Number(r.Position) };
  }

  /** The binlog files and their sizes, oldest first (SHOW BINARY LOGS). */
  async binlogFiles(): Promise<Array<{ file: string; size: number }>> {
    const [rows] = await this.conn.query("SHOW BINARY LOGS");
    return (rows as Array<{ Log_name: string; File_size: number | string }>).map((r) => ({
      file: r.Log_name,
      size: Number(r.File_size),
    }));
  }

  /** Primary key columns of every table (in key order), by `schema.table`. */
  async primaryKeys(): Promise<Map<string, string[]>> {
    const [rows] = await this.conn.query(
      `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.KEY_COLUMN_USAGE
       WHERE CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
    );
    const out = new Map<string, string[]>();
    for (const r of rows as Array<{ s: string; t: string; c: string }>) {
      const k = `${r.s}.${r.t}`;
      const list = out.get(k) ?? [];
      list.push(r.c);
      out.set(k, list);
    }
    return out;
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.conn.query(sql, params);
    return rows as T[];
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => {});
  }
}
