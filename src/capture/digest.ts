import * as hdr from "hdr-histogram-js";
import type { SessionEvent } from "./events.ts";
import { fingerprint } from "./fingerprint.ts";

/**
 * A capture summarised by query fingerprint: how often each query ran, how long its responses took
 * (total, p50, p99, max from an HDR histogram, microsecond resolution), how many failed and how many
 * rows it returned or changed. Prepared statements count under the fingerprint of the SQL they were
 * prepared from; commands without SQL (ping, init_db, ...) under `# kind`.
 */
export interface DigestRow {
  fingerprint: string;
  /** The first statement seen with this fingerprint, as sent. */
  example: string;
  count: number;
  errors: number;
  totalUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  rows: number;
  affectedRows: number;
}

interface Entry {
  fingerprint: string;
  example: string;
  count: number;
  errors: number;
  totalUs: number;
  rows: number;
  affectedRows: number;
  histogram: hdr.Histogram;
}

export class QueryDigest {
  private readonly entries = new Map<string, Entry>();
  /** Commands waiting for their response: "session/seq" -> fingerprint and text. */
  private readonly pending = new Map<string, { fingerprint: string; example: string }>();
  /** Prepared statement SQL per session: "session/statementId" -> SQL; prepare SQL per "session/seq". */
  private readonly statements = new Map<string, string>();
  private readonly preparing = new Map<string, string>();
  private readonly fingerprints = new Map<string, string>();
  commands = 0;
  /** Responses whose command was not seen (should be 0). */
  unmatched = 0;

  add(e: SessionEvent): void {
    if (e.type === "command") {
      const key = `${e.session}/${e.seq}`;
      let text: string | undefined;
      if (e.kind === "query") text = e.sql;
      else if (e.kind === "stmt_execute") text = this.statements.get(`${e.session}/${e.statementId}`);
      else if (e.kind === "stmt_prepare") this.preparing.set(key, e.sql ?? "");
      if (e.kind === "stmt_close") this.statements.delete(`${e.session}/${e.statementId}`);
      if (e.kind === "quit" || e.kind === "stmt_close" || e.kind === "stmt_send_long_data") return;
      this.commands++;
      const fp =
        text === undefined
          ? `# ${e.kind}${e.kind === "stmt_execute" ? " (statement prepared before the capture)" : ""}`
          : this.fingerprintOf(text);
      this.pending.set(key, { fingerprint: fp, example: text ?? e.kind });
    } else if (e.type === "response") {
      const key = `${e.session}/${e.seq}`;
      const prepared = this.preparing.get(key);
      if (prepared !== undefined) {
        this.preparing.delete(key);
        if (e.ok && e.statementId !== undefined)
          this.statements.set(`${e.session}/${e.statementId}`, prepared);
      }
      const p = this.pending.get(key);
      if (!p) {
        this.unmatched++;
        return;
      }
      this.pending.delete(key);
      let entry = this.entries.get(p.fingerprint);
      if (!entry) {
        entry = {
          fingerprint: p.fingerprint,
          example: p.example,
          count: 0,
          errors: 0,
          totalUs: 0,
          rows: 0,
          affectedRows: 0,
          histogram: hdr.build({
            lowestDiscernibleValue: 1,
            highestTrackableValue: 3_600_000_000,
            numberOfSignificantValueDigits: 3,
          }),
        };
        this.entries.set(p.fingerprint, entry);
      }
      entry.count++;
      if (!e.ok) entry.errors++;
      entry.totalUs += e.latencyUs;
      entry.rows += e.rows;
      entry.affectedRows += e.affectedRows;
      entry.histogram.recordValue(Math.max(1, Math.round(e.latencyUs)));
    } else if (e.type === "close" || e.type === "resync") {
      // Responses that will never come: forget their commands.
      for (const key of this.pending.keys()) if (key.startsWith(`${e.session}/`)) this.pending.delete(key);
      if (e.type === "close")
        for (const key of this.statements.keys())
          if (key.startsWith(`${e.session}/`)) this.statements.delete(key);
    }
  }

  /** Rows sorted by total response time, largest first. */
  rows(top = Number.POSITIVE_INFINITY): DigestRow[] {
    return [...this.entries.values()]
      .sort((a, b) => b.totalUs - a.totalUs || b.count - a.count)
      .slice(0, top)
      .map((e) => ({
        fingerprint: e.fingerprint,
        example: e.example,
        count: e.count,
        errors: e.errors,
        totalUs: e.totalUs,
        p50Us: e.histogram.getValueAtPercentile(50),
        p99Us: e.histogram.getValueAtPercentile(99),
        maxUs: e.histogram.maxValue,
        rows: e.rows,
        affectedRows: e.affectedRows,
      }));
  }

  get totalUs(): number {
    let t = 0;
    for (const e of this.entries.values()) t += e.totalUs;
    return t;
  }

  get distinct(): number {
    return this.entries.size;
  }

  private fingerprintOf(sql: string): string {
    // The same texts recur (prepared SQL, ORMs): remember a bounded number of them.
    let fp = this.fingerprints.get(sql);
    if (fp === undefined) {
      fp = fingerprint(sql);
      if (this.fingerprints.size > 10_000) this.fingerprints.clear();
      this.fingerprints.set(sql, fp);
    }
    return fp;
  }
}
