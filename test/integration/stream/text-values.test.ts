/**
 * Values read as text (`readText`) against every adapter: the same strings as decoding the bytes of
 * `read` with `buffer.toString("utf8")`, for the same records, through the log and through a consumer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { openStreamLog } from "../../../src/stream/index.ts";
import type { StoredRecord, StreamRecord } from "../../../src/stream/types.ts";
import { uniqueStream } from "./conformance.ts";
import { REDIS, testPrefix } from "./redis-keys.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-stream-text-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const adapters = [
  { name: "sqlite", url: `file:${join(dir, "log.db")}` },
  // The local RabbitMQ (scripts/run.sh starts it).
  { name: "rabbitmq", url: "amqp://guest:guest@127.0.0.1:5672" },
  // The local Redis, under a key prefix of this run.
  { name: "redis", url: `${REDIS}?prefix=${testPrefix("text")}` },
];

/** Capture-like JSON, non-ASCII (2-, 3- and 4-byte UTF-8), an empty value and an embedded NUL. */
const texts = [
  JSON.stringify({ type: "command", session: 1, seq: 0, sql: "SELECT 'héllo', '日本語', '🦀'" }),
  "plain ascii",
  "",
  "Grüße aus Köln — ¿qué tal? Ωμέγα",
  "a\u0000b",
  JSON.stringify({ type: "response", session: 2, seq: 7, ok: true, rows: "x".repeat(5000) }),
];

const records = (): StreamRecord[] =>
  texts.map((t, i) => ({
    key: `k${i}`,
    value: Buffer.from(t, "utf8"),
    timestamp: 1_700_000_000_000 + i,
    ...(i % 2 === 0 ? { headers: { trace: `t${i}` } } : {}),
  }));

const decoded = (recs: StoredRecord[]) =>
  recs.map((r) => ({ ...r, value: Buffer.from(r.value).toString("utf8") }));

for (const adapter of adapters) {
  describe(`stream log text values: ${adapter.name}`, () => {
    test("readText gives the strings buffer.toString('utf8') gives, with the same records", async () => {
      const log = await openStreamLog(adapter.url);
      const stream = uniqueStream("text");
      try {
        const p = await log.producer(stream);
        await p.append(records());
        const bytes = await log.read(stream, 0, { max: 100, waitMs: 5000 });
        assert.equal(bytes.length, texts.length);
        const text = await log.readText(stream, 0, { max: 100, waitMs: 5000 });
        assert.deepEqual(text, decoded(bytes));
        assert.deepEqual(
          text.map((r) => r.value),
          texts,
        );

        const c = await log.consumer(stream, "text-reader", { start: "earliest" });
        const first = await c.readText({ max: 2, waitMs: 5000 });
        assert.deepEqual(first, decoded(bytes.slice(0, 2)));
        assert.equal(c.position(), 2);
        const rest = await c.readText({ max: 100, waitMs: 5000 });
        assert.deepEqual(rest, decoded(bytes.slice(2)));
        // Bytes and text reads share the consumer's position.
        assert.deepEqual(await c.read({ from: 1, max: 1, waitMs: 5000 }), bytes.slice(1, 2));
        assert.deepEqual(await c.readText({ max: 1, waitMs: 5000 }), decoded(bytes.slice(2, 3)));
        await c.close();
      } finally {
        await log.deleteStream(stream).catch(() => {});
        await log.close();
      }
    });
  });
}
