/**
 * Stream-log throughput: records/s and MB/s for each adapter, producer (block policy: every append
 * durable before the next) and consumer (group read from offset 0) separately, at batch sizes 1, 100
 * and 1000 and record sizes 100 B and 1 KiB. The peer on the same input is the bare client doing
 * the same durable write: better-sqlite3 inserting in one transaction per batch, amqplib publishing
 * to the stream queue and waiting for confirms per batch, nats.js publishing a batch to a JetStream
 * stream (with a Nats-Msg-Id each, as Sluice does) and awaiting every ack, ioredis sending one
 * MULTI/EXEC of XADDs (server-made IDs) per batch. Ratio = Sluice / bare client.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { connect as natsConnect, headers as natsHeaders } from "nats";
import { openStreamLog } from "../src/stream/index.ts";
import type { StreamLog, StreamRecord } from "../src/stream/types.ts";
import type { BenchModule } from "./types.ts";

const AMQP = "amqp://guest:guest@127.0.0.1:5672";
const NATS = "nats://127.0.0.1:4222";
const REDIS_PREFIX = `sluice-bench-${process.pid}`;
const REDIS = `redis://127.0.0.1:6379?prefix=${REDIS_PREFIX}`;

interface Row {
  adapter: string;
  side: "producer" | "consumer";
  size: number;
  batch: number;
  records: number;
  seconds: number;
  peerPerSec?: number;
}

function makeBatch(n: number, size: number, seq: number): StreamRecord[] {
  const value = Buffer.alloc(size, 0x61);
  return Array.from({ length: n }, (_, i) => ({ key: `k${(seq + i) % 16}`, value, timestamp: Date.now() }));
}

/** Appends batches until `limit` records or `budgetMs` elapsed; returns records and seconds. */
async function produce(
  log: StreamLog,
  stream: string,
  size: number,
  batch: number,
  limit: number,
  budgetMs: number,
) {
  const p = await log.producer(stream, { policy: "block", maxBatch: Math.max(batch, 1000) });
  const started = performance.now();
  let n = 0;
  while (n < limit && performance.now() - started < budgetMs) {
    await p.append(makeBatch(batch, size, n));
    n += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  await p.close();
  return { records: n, seconds };
}

async function consume(log: StreamLog, stream: string, group: string, batch: number, total: number) {
  const c = await log.consumer(stream, group, { prefetch: Math.max(batch, 1000) });
  const started = performance.now();
  let n = 0;
  while (n < total) {
    const recs = await c.read({ max: batch, waitMs: 2000 });
    if (recs.length === 0) break;
    n += recs.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await c.commit(n - 1);
  await c.close();
  return { records: n, seconds };
}

async function peerSqlite(path: string, size: number, batch: number, limit: number, budgetMs: number) {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE t (offset INTEGER PRIMARY KEY, key TEXT, value BLOB, ts INTEGER)");
  const insert = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
  const write = db.transaction((recs: StreamRecord[], base: number) => {
    recs.forEach((r, i) => {
      insert.run(base + i, r.key, r.value, r.timestamp);
    });
  });
  const started = performance.now();
  let n = 0;
  while (n < limit && performance.now() - started < budgetMs) {
    write.immediate(makeBatch(batch, size, n), n);
    n += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return n / seconds;
}

async function peerAmqp(queue: string, size: number, batch: number, limit: number, budgetMs: number) {
  const conn = await amqp.connect(AMQP);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "stream" } });
  const started = performance.now();
  let n = 0;
  while (n < limit && performance.now() - started < budgetMs) {
    for (const r of makeBatch(batch, size, n))
      ch.sendToQueue(queue, Buffer.from(r.value), { headers: { key: r.key } });
    await ch.waitForConfirms();
    n += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  await ch.deleteQueue(queue);
  await conn.close();
  return n / seconds;
}

async function peerNats(name: string, size: number, batch: number, limit: number, budgetMs: number) {
  const nc = await natsConnect({ servers: "127.0.0.1:4222" });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects: [`${name}.records`] });
  const js = nc.jetstream();
  const started = performance.now();
  let n = 0;
  while (n < limit && performance.now() - started < budgetMs) {
    await Promise.all(
      makeBatch(batch, size, n).map((r, i) => {
        const h = natsHeaders();
        h.set("key", r.key);
        return js.publish(`${name}.records`, r.value, { msgID: `peer:${n + i}`, headers: h });
      }),
    );
    n += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  await jsm.streams.delete(name);
  await nc.close();
  return n / seconds;
}

async function peerRedis(key: string, size: number, batch: number, limit: number, budgetMs: number) {
  const redis = new Redis({ host: "127.0.0.1", port: 6379 });
  const started = performance.now();
  let n = 0;
  while (n < limit && performance.now() - started < budgetMs) {
    const tx = redis.multi();
    for (const r of makeBatch(batch, size, n)) tx.xadd(key, "*", "k", r.key, "v", Buffer.from(r.value));
    await tx.exec();
    n += batch;
  }
  const seconds = (performance.now() - started) / 1000;
  await redis.unlink(key);
  await redis.quit();
  return n / seconds;
}

/** A table padded the way the repository's formatter (Biome) prints Markdown, so the file stays lint-clean. */
function markdownTable(header: string[], align: string, body: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(3, h.length, ...body.map((r) => (r[i] ?? "").length)));
  const cell = (text: string, i: number) =>
    align[i] === "r" ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0);
  const row = (cells: string[]) => `| ${cells.map(cell).join(" | ")} |`;
  const rule = widths.map((w, i) => (align[i] === "r" ? `${"-".repeat(w - 1)}:` : "-".repeat(w)));
  return [row(header), `| ${rule.join(" | ")} |`, ...body.map(row)];
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));

const bench: BenchModule = {
  name: "stream-log",
  async run({ quick }) {
    const dir = mkdtempSync(join(tmpdir(), "sluice-bench-stream-"));
    const rows: Row[] = [];
    const budgetMs = quick ? 500 : 3000;
    try {
      for (const adapter of ["sqlite", "rabbitmq", "nats", "redis"] as const) {
        for (const size of [100, 1024]) {
          for (const batch of [1, 100, 1000]) {
            const limit = batch === 1 ? (quick ? 500 : 5000) : quick ? 20_000 : 200_000;
            const stream = `bench-${process.pid}-${size}-${batch}`;
            const url = { sqlite: `file:${join(dir, "log.db")}`, rabbitmq: AMQP, nats: NATS, redis: REDIS }[
              adapter
            ];
            const log = await openStreamLog(url);
            try {
              // Sluice and the bare client alternate twice and each keeps its best round, so that a
              // burst of other work on the machine does not decide the ratio.
              let p = { records: 0, seconds: 1 };
              let peerPerSec = 0;
              let kept = 0;
              for (let round = 0; round < 2; round++) {
                const s = round === 0 ? stream : `${stream}-r${round}`;
                const mine = await produce(log, s, size, batch, limit, budgetMs / 2);
                if (round === 0) kept = mine.records;
                if (mine.records / mine.seconds > p.records / p.seconds) p = mine;
                if (round > 0) await log.deleteStream(s);
                const peer =
                  adapter === "sqlite"
                    ? await peerSqlite(
                        join(dir, `peer-${size}-${batch}-${round}.db`),
                        size,
                        batch,
                        limit,
                        budgetMs / 2,
                      )
                    : adapter === "rabbitmq"
                      ? await peerAmqp(`${stream}-peer`, size, batch, limit, budgetMs / 2)
                      : adapter === "nats"
                        ? await peerNats(`${stream}-peer`, size, batch, limit, budgetMs / 2)
                        : await peerRedis(`${REDIS_PREFIX}:${stream}-peer`, size, batch, limit, budgetMs / 2);
                peerPerSec = Math.max(peerPerSec, peer);
              }
              rows.push({ adapter, side: "producer", size, batch, ...p, peerPerSec });
              // The consumer reads the first round's stream (the others are deleted).
              const c = await consume(log, stream, "bench", batch, kept);
              rows.push({ adapter, side: "consumer", size, batch, ...c });
              console.error(
                `${adapter} ${size} B batch ${batch}: produce ${fmt(p.records / p.seconds)}/s, consume ${fmt(c.records / c.seconds)}/s`,
              );
            } finally {
              await log.deleteStream(stream).catch(() => {});
              await log.close();
            }
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
    const lines = [
      `Load average at the end of the run: ${load} (the machine may be shared with other work; each producer figure`,
      "is the better of two rounds alternating Sluice and the bare client).",
      "",
      "Producer: `block` policy, one `append(batch)` awaited at a time (each append durable before the next:",
      "SQLite `synchronous=FULL` transaction, RabbitMQ publisher confirms, JetStream publish acks, Redis the",
      "reply to the append script: in memory on the local Redis, which runs without persistence). Consumer: a",
      "consumer group reading the same records from offset 0 with `read({max: batch})`. Bare client =",
      "better-sqlite3 / amqplib / nats.js / ioredis (MULTI/EXEC of XADDs with server-made IDs) doing the same",
      "write without Sluice; ratio = Sluice / bare client.",
      "",
    ];
    const table: string[][] = rows.map((r) => {
      const perSec = r.records / r.seconds;
      return [
        r.adapter,
        r.side,
        `${r.size} B`,
        String(r.batch),
        r.records.toLocaleString("en-US"),
        fmt(perSec),
        ((perSec * r.size) / 1e6).toFixed(2),
        r.peerPerSec ? fmt(r.peerPerSec) : "",
        r.peerPerSec ? (perSec / r.peerPerSec).toFixed(2) : "",
      ];
    });
    lines.push(
      ...markdownTable(
        [
          "adapter",
          "side",
          "record",
          "batch",
          "records",
          "records/s",
          "MB/s",
          "bare client records/s",
          "ratio",
        ],
        "llrrrrrrr",
        table,
      ),
    );
    return {
      title: "Stream log (embedded SQLite, RabbitMQ streams, NATS JetStream and Redis Streams)",
      command: "npm run bench -- stream-log",
      markdown: lines.join("\n"),
    };
  },
};

export default bench;
