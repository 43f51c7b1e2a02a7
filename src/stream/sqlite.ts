/**
 * The embedded adapter: one SQLite file (better-sqlite3, WAL mode) holds any number of streams.
 * Each stream is a table whose INTEGER PRIMARY KEY is the offset, so reads by offset are B-tree range
 * scans and offsets never move. Appends run in BEGIN IMMEDIATE transactions, which serializes writers
 * across processes; `synchronous=FULL` (default) makes a committed append survive power loss, `NORMAL`
 * (`?sync=normal`) only a process crash. Readers in other processes see commits at once (WAL) and
 * poll for new rows, since SQLite cannot notify across processes.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { messageOf, SluiceError } from "../core/errors.ts";
import type {
  RecordReader,
  RetentionOptions,
  StartPosition,
  StoredRecord,
  StoredTextRecord,
  StreamBackend,
  StreamRecord,
} from "./types.ts";

const RETENTION_BATCH = 10_000;
const RETENTION_EVERY_MS = 1000;
const POLL_MIN_MS = 2;
const POLL_MAX_MS = 50;

interface StreamRow {
  name: string;
  next_offset: number;
  bytes: number;
  max_age_ms: number | null;
  max_bytes: number | null;
}

/** A record's row as the select returns it (raw): offset, key, value, ts, headers. */
type RecordRow<V> = [offset: number, key: string, value: V, ts: number, headers: string | null];

/** How values are read: as bytes (a Buffer each) or as text (CAST in SQLite: a string, no Buffer). */
type ValueMode = "bytes" | "text";

const table = (stream: string) => `"stream:${stream.replaceAll('"', '""')}"`;

export interface SqliteBackendOptions {
  sync?: "full" | "normal";
}

export class SqliteBackend implements StreamBackend {
  readonly adapter = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly lastRetention = new Map<string, number>();
  private readonly appenders = new Map<
    string,
    Database.Transaction<(records: readonly StreamRecord[], now: number) => void>
  >();
  private readonly selects = new Map<string, Database.Statement>();
  private readonly textSelects = new Map<string, Database.Statement>();
  private closed = false;

  private constructor(
    readonly url: string,
    readonly path: string,
    db: Database.Database,
  ) {
    this.db = db;
  }

  static open(url: string, path: string, options: SqliteBackendOptions = {}): SqliteBackend {
    let db: Database.Database;
    try {
      mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.sync === "normal" ? "NORMAL" : "FULL"}`);
      db.pragma("busy_timeout = 10000");
      db.exec(`
        CREATE TABLE IF NOT EXISTS sluice_streams (
          name TEXT PRIMARY KEY, next_offset INTEGER NOT NULL, bytes INTEGER NOT NULL,
          max_age_ms INTEGER, max_bytes INTEGER, created_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS sluice_offsets (
          stream TEXT NOT NULL, grp TEXT NOT NULL, committed INTEGER NOT NULL, updated_at INTEGER NOT NULL,
          PRIMARY KEY (stream, grp)) WITHOUT ROWID;`);
    } catch (e) {
      throw new SluiceError("STREAM_OPEN_FAILED", `cannot open the stream-log file: ${messageOf(e)}`, {
        context: { url, file: path },
        hint: "check that the directory exists and is writable, and that the file is a SQLite database",
        cause: e,
      });
    }
    return new SqliteBackend(url, path, db);
  }

  private check(): void {
    if (this.closed)
      throw new SluiceError("STREAM_CLOSED", "the stream log is closed", { context: { url: this.url } });
  }

  private streamRow(stream: string): StreamRow | undefined {
    return this.db.prepare("SELECT * FROM sluice_streams WHERE name = ?").get(stream) as
      | StreamRow
      | undefined;
  }

  async ensureStream(stream: string, retention: RetentionOptions): Promise<void> {
    this.check();
    this.db
      .transaction(() => {
        this.db.exec(
          `CREATE TABLE IF NOT EXISTS ${table(stream)} (
          offset INTEGER PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL, ts INTEGER NOT NULL,
          appended_at INTEGER NOT NULL, headers TEXT)`,
        );
        this.db
          .prepare(
            `INSERT INTO sluice_streams (name, next_offset, bytes, max_age_ms, max_bytes, created_at)
           VALUES (?, 0, 0, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
          )
          .run(stream, retention.maxAgeMs ?? null, retention.maxBytes ?? null, Date.now());
        if (retention.maxAgeMs !== undefined || retention.maxBytes !== undefined)
          this.db
            .prepare("UPDATE sluice_streams SET max_age_ms = ?, max_bytes = ? WHERE name = ?")
            .run(retention.maxAgeMs ?? null, retention.maxBytes ?? null, stream);
      })
      .immediate();
  }

  async write(stream: string, records: readonly StreamRecord[]): Promise<void> {
    this.check();
    const now = Date.now();
    try {
      this.appender(stream).immediate(records, now);
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      throw new SluiceError("STREAM_APPEND_FAILED", `append failed: ${messageOf(e)}`, {
        context: { url: this.url, stream },
        hint: "no record of this batch was written; check disk space and file permissions",
        cause: e,
      });
    }
    const last = this.lastRetention.get(stream) ?? 0;
    if (now - last >= RETENTION_EVERY_MS) {
      this.lastRetention.set(stream, now);
      this.applyRetention(stream, now);
    }
  }

  /** One prepared transaction per stream: statements are prepared once, not per batch. */
  private appender(
    stream: string,
  ): Database.Transaction<(records: readonly StreamRecord[], now: number) => void> {
    let append = this.appenders.get(stream);
    if (append) return append;
    const insert = this.db.prepare(
      `INSERT INTO ${table(stream)} (offset, key, value, ts, appended_at, headers) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const selectNext = this.db.prepare("SELECT next_offset FROM sluice_streams WHERE name = ?");
    const updateNext = this.db.prepare(
      "UPDATE sluice_streams SET next_offset = ?, bytes = bytes + ? WHERE name = ?",
    );
    append = this.db.transaction((records: readonly StreamRecord[], now: number) => {
      const row = selectNext.get(stream) as { next_offset: number } | undefined;
      if (!row) throw this.noStream(stream);
      let offset = row.next_offset;
      let bytes = 0;
      for (const r of records) {
        const value = Buffer.isBuffer(r.value)
          ? r.value
          : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        insert.run(offset++, r.key, value, r.timestamp, now, r.headers ? JSON.stringify(r.headers) : null);
        bytes += value.byteLength;
      }
      updateNext.run(offset, bytes, stream);
    });
    this.appenders.set(stream, append);
    return append;
  }

  private noStream(stream: string): SluiceError {
    return new SluiceError("STREAM_NOT_FOUND", `no stream '${stream}'`, {
      context: { url: this.url, stream },
      hint: "it was deleted, or never created; a producer creates it",
    });
  }

  /** Deletes the oldest rows, RETENTION_BATCH per transaction, so readers and writers interleave. */
  applyRetention(stream: string, now = Date.now()): number {
    const s = this.streamRow(stream);
    if (!s || (s.max_age_ms === null && s.max_bytes === null)) return 0;
    const t = table(stream);
    let deleted = 0;
    for (;;) {
      const n = this.db
        .transaction(() => {
          const cur = this.streamRow(stream);
          if (!cur) return 0;
          const rows = this.db
            .prepare(`SELECT offset, length(value) AS len, appended_at FROM ${t} ORDER BY offset LIMIT ?`)
            .all(RETENTION_BATCH) as { offset: number; len: number; appended_at: number }[];
          let excess = cur.max_bytes === null ? 0 : cur.bytes - cur.max_bytes;
          let cut = -1;
          let freed = 0;
          for (const r of rows) {
            const old = cur.max_age_ms !== null && r.appended_at < now - cur.max_age_ms;
            if (!old && excess <= 0) break;
            cut = r.offset;
            freed += r.len;
            excess -= r.len;
          }
          if (cut < 0) return 0;
          const { changes } = this.db.prepare(`DELETE FROM ${t} WHERE offset <= ?`).run(cut);
          this.db.prepare("UPDATE sluice_streams SET bytes = bytes - ? WHERE name = ?").run(freed, stream);
          return changes;
        })
        .immediate();
      deleted += n;
      if (n < RETENTION_BATCH) return deleted;
    }
  }

  private selectFrom(stream: string, from: number, max: number, mode: "bytes"): StoredRecord[];
  private selectFrom(stream: string, from: number, max: number, mode: "text"): StoredTextRecord[];
  private selectFrom(
    stream: string,
    from: number,
    max: number,
    mode: ValueMode,
  ): (StoredRecord | StoredTextRecord)[] {
    let rows: RecordRow<Buffer | string>[];
    try {
      const cache = mode === "text" ? this.textSelects : this.selects;
      let select = cache.get(stream);
      if (!select) {
        // Rows as arrays (raw): no object with named columns made per row before the record itself.
        const value = mode === "text" ? "CAST(value AS TEXT)" : "value";
        select = this.db
          .prepare(
            `SELECT offset, key, ${value}, ts, headers FROM ${table(stream)} WHERE offset >= ? ORDER BY offset LIMIT ?`,
          )
          .raw(true);
        cache.set(stream, select);
      }
      rows = select.all(from, max) as RecordRow<Buffer | string>[];
    } catch (e) {
      if (/no such table/.test(messageOf(e))) throw this.noStream(stream);
      throw new SluiceError("STREAM_READ_FAILED", `read failed: ${messageOf(e)}`, {
        context: { url: this.url, stream, offset: from },
        hint: "check the file's permissions and that the disk is healthy (sqlite3 FILE 'PRAGMA integrity_check')",
        cause: e,
      });
    }
    return rows.map(([offset, key, value, ts, headers]) => {
      const rec = { offset, partition: 0, key, value, timestamp: ts } as StoredRecord | StoredTextRecord;
      if (headers !== null) rec.headers = JSON.parse(headers) as Record<string, string>;
      return rec;
    });
  }

  async openReader(stream: string, from: StartPosition): Promise<RecordReader> {
    this.check();
    const b = await this.bounds(stream);
    if (!b.exists) throw this.noStream(stream);
    let next =
      from === "earliest" ? (b.first ?? (b.head ?? -1) + 1) : from === "latest" ? (b.head ?? -1) + 1 : from;
    let open = true;
    /** Polls until rows come or waitMs passes, then moves past what it returns. */
    const poll = async <R extends { offset: number }>(waitMs: number, select: () => R[]): Promise<R[]> => {
      const deadline = Date.now() + waitMs;
      let pause = POLL_MIN_MS;
      for (;;) {
        if (!open || this.closed) return [];
        const recs = select();
        const last = recs.at(-1);
        if (last) {
          next = last.offset + 1;
          return recs;
        }
        const left = deadline - Date.now();
        if (left <= 0) return [];
        await new Promise((r) => setTimeout(r, Math.min(pause, left)));
        pause = Math.min(pause * 2, POLL_MAX_MS);
      }
    };
    return {
      next: (max, waitMs) => poll(waitMs, () => this.selectFrom(stream, next, max, "bytes")),
      nextText: (max, waitMs) => poll(waitMs, () => this.selectFrom(stream, next, max, "text")),
      close: async () => {
        open = false;
      },
    };
  }

  async loadCommitted(stream: string, group: string): Promise<number | undefined> {
    this.check();
    const row = this.db
      .prepare("SELECT committed FROM sluice_offsets WHERE stream = ? AND grp = ?")
      .get(stream, group) as { committed: number } | undefined;
    return row?.committed;
  }

  async storeCommitted(stream: string, group: string, offset: number): Promise<void> {
    this.check();
    this.db
      .prepare(
        `INSERT INTO sluice_offsets (stream, grp, committed, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream, grp) DO UPDATE SET committed = excluded.committed, updated_at = excluded.updated_at`,
      )
      .run(stream, group, offset, Date.now());
  }

  async bounds(
    stream: string,
  ): Promise<{ first: number | undefined; head: number | undefined; exists: boolean }> {
    this.check();
    const s = this.streamRow(stream);
    if (!s) return { first: undefined, head: undefined, exists: false };
    const first = (
      this.db.prepare(`SELECT min(offset) AS m FROM ${table(stream)}`).get() as { m: number | null }
    ).m;
    return {
      first: first ?? undefined,
      head: s.next_offset > 0 ? s.next_offset - 1 : undefined,
      exists: true,
    };
  }

  async groups(stream: string): Promise<string[]> {
    this.check();
    return (
      this.db.prepare("SELECT grp FROM sluice_offsets WHERE stream = ? ORDER BY grp").all(stream) as {
        grp: string;
      }[]
    ).map((r) => r.grp);
  }

  async streams(): Promise<string[]> {
    this.check();
    return (this.db.prepare("SELECT name FROM sluice_streams ORDER BY name").all() as { name: string }[]).map(
      (r) => r.name,
    );
  }

  async retention(stream: string): Promise<RetentionOptions> {
    const s = this.streamRow(stream);
    const r: RetentionOptions = {};
    if (s?.max_age_ms != null) r.maxAgeMs = s.max_age_ms;
    if (s?.max_bytes != null) r.maxBytes = s.max_bytes;
    return r;
  }

  async deleteStream(stream: string): Promise<void> {
    this.check();
    this.db
      .transaction(() => {
        this.db.exec(`DROP TABLE IF EXISTS ${table(stream)}`);
        this.db.prepare("DELETE FROM sluice_streams WHERE name = ?").run(stream);
        this.db.prepare("DELETE FROM sluice_offsets WHERE stream = ?").run(stream);
      })
      .immediate();
    this.appenders.delete(stream);
    this.selects.delete(stream);
    this.textSelects.delete(stream);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
