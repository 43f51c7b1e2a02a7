import type { CdcOutput } from "../cdc/transformer.ts";

/** A chunk of row changes of one transaction, as the transformer completes it. */
export type ChangeChunk = Extract<CdcOutput, { type: "chunk" }>;

/**
 * Where change envelopes go. Delivery is at-least-once: after a crash the runner replays from the
 * last checkpoint, so a sink either drops what it already holds (the history store, by position) or
 * documents that consumers see duplicates (JSON lines, the stream log; each envelope carries its
 * unique `(source.file, source.offset, source.row)`).
 */
export interface ChangeSink {
  readonly kind: string;
  /** Takes one chunk; may buffer. */
  write(chunk: ChangeChunk): Promise<void>;
  /** Makes everything written so far durable; the runner calls it before each checkpoint. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** `file:PATH` / a bare path = embedded SQLite; `mysql://` or `mariadb://` = a MySQL/MariaDB database. */
export type StoreTarget = { kind: "sqlite"; path: string } | { kind: "mysql"; url: string };

export function parseStoreUrl(url: string): StoreTarget {
  if (/^(mysql|mariadb):\/\//i.test(url)) return { kind: "mysql", url };
  const path = url.startsWith("file:") ? url.slice(5).replace(/^\/\/(?=\/)/, "") : url;
  return { kind: "sqlite", path: path.split("?")[0]! };
}
