import type { ChangeChunk, ChangeSink } from "../types.ts";
import { parseStoreUrl } from "../types.ts";
import { MysqlHistoryStore } from "./mysql.ts";
import type { HistoryStore } from "./records.ts";
import { SqliteHistoryStore } from "./sqlite.ts";

export { MysqlHistoryStore } from "./mysql.ts";
export type { HistoryCounts, HistoryEntry, HistoryQuery, HistoryStore } from "./records.ts";
export { SqliteHistoryStore } from "./sqlite.ts";

/** Opens the history store named by `url`: `file:PATH` (SQLite, the default) or `mysql://...`. */
export async function openHistoryStore(url: string): Promise<HistoryStore> {
  const t = parseStoreUrl(url);
  return t.kind === "mysql" ? MysqlHistoryStore.open(t.url) : new SqliteHistoryStore(t.path);
}

/**
 * The history store as a CDC sink. Chunks are gathered up to `maxPendingChanges` row changes and
 * written in one database transaction; `flush` (before every checkpoint) writes what is pending.
 */
export class HistorySink implements ChangeSink {
  readonly kind = "history";
  private pending: ChangeChunk[] = [];
  private pendingChanges = 0;

  constructor(
    readonly store: HistoryStore,
    private readonly maxPendingChanges = 5000,
  ) {}

  async write(chunk: ChangeChunk): Promise<void> {
    this.pending.push(chunk);
    this.pendingChanges += chunk.changes.length;
    if (this.pendingChanges >= this.maxPendingChanges) await this.flush();
  }

  async flush(): Promise<void> {
    const chunks = this.pending;
    this.pending = [];
    this.pendingChanges = 0;
    await this.store.writeChunks(chunks);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.store.close();
  }
}
