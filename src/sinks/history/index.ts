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

/** The history store as a CDC sink: every chunk is written (and committed) as it comes. */
export class HistorySink implements ChangeSink {
  readonly kind = "history";
  constructor(readonly store: HistoryStore) {}
  write(chunk: ChangeChunk): Promise<void> {
    return this.store.writeChunk(chunk);
  }
  async flush(): Promise<void> {}
  close(): Promise<void> {
    return this.store.close();
  }
}
