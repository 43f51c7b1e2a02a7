import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { isSluiceError } from "../../../src/core/errors.ts";
import { metricsRegistry } from "../../../src/core/metrics.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openBinlogStream } from "../../../src/sources/replication/stream.ts";
import { gtidsOf, isMadeUp, listed, relay, showBinlogEvents } from "./helpers.ts";

let sb: MariadbSandbox;
/** Rows per transaction; the break comes inside the third, the big one. */
const SIZES = [4000, 4000, 50_000, 4000, 4000];
const TRANSACTIONS = SIZES.length;
const BROKEN_GTID_SEQ = 2 + 3;

before(async () => {
  sb = await startMariadb({});
  await sb.query("CREATE DATABASE d");
  await sb.query("CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(200))");
  // ~200 bytes a row: the big transaction is ~10 MB of rows events, more than the socket buffers on
  // both sides hold, so a connection killed while the consumer is inside it is lost mid-transaction.
  let id = 0;
  for (const rows of SIZES) {
    await sb.query(`INSERT INTO d.t SELECT seq + ${id}, REPEAT('x', 200) FROM d.seq_1_to_${rows}`);
    id += rows;
  }
});

after(async () => {
  await sb?.stop();
});

/**
 * Streams earliest..head, calling `breakIt` once while the consumer is in the middle of the third
 * transaction; returns what the consumer saw and whether the break landed inside a transaction.
 */
async function streamWithBreak(
  url: string,
  breakIt: (connectionId: number) => Promise<void> | void,
  start = "earliest",
) {
  const stream = openBinlogStream(url, {
    start,
    // A stop GTID (not `head`) keeps the dump blocking, so the server's dump thread is alive to be killed.
    stop: `0-${sb.serverId}-${TRANSACTIONS + 2}`,
    heartbeatSeconds: 0,
    // Little read-ahead, so that the drop is felt while the server is still sending the transaction.
    highWaterMarkBytes: 16 * 1024,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  const resumedFrom: string[] = [];
  stream.on("connected", (c) => resumedFrom.push(c.resume));
  let lastBeforeBreak: BinlogEvent | undefined;
  let brokenMidTransaction: boolean | undefined;
  stream.on("reconnecting", () => {
    brokenMidTransaction ??= lastBeforeBreak !== undefined && lastBeforeBreak.type !== "xid";
  });
  const seen: BinlogEvent[] = [];
  let rowsEventsInThird = 0;
  let broken = false;
  for await (const ev of stream) {
    lastBeforeBreak = ev;
    if (isMadeUp(ev)) continue;
    seen.push(ev);
    if (
      !broken &&
      ev.type === "write_rows_v1" &&
      ev.gtid?.endsWith(`-${BROKEN_GTID_SEQ}`) &&
      ++rowsEventsInThird === 3
    ) {
      broken = true;
      await breakIt(stream.connectionId!);
    }
  }
  assert.ok(broken);
  return { seen, brokenMidTransaction, reconnects: stream.status.reconnects, resumedFrom };
}

async function checkExactlyOnce(seen: BinlogEvent[]) {
  const expected = await showBinlogEvents(sb);
  const got = seen.map(listed);
  assert.equal(new Set(got.map((e) => e.at)).size, got.length, "no event twice");
  assert.deepEqual(got, expected, "every event, in order");
  assert.deepEqual(
    gtidsOf(seen),
    Array.from({ length: TRANSACTIONS + 2 }, (_, i) => `0-${sb.serverId}-${i + 1}`),
  );
  const rows = seen.reduce(
    (n, e) =>
      n + (e.type === "write_rows_v1" ? ((e as { rows?: { rows: unknown[] } }).rows?.rows.length ?? 0) : 0),
    0,
  );
  assert.equal(
    rows,
    SIZES.reduce((a, b) => a + b, 0),
  );
}

test("KILL of the dump connection mid-transaction: reconnect, every event exactly once, in order", async () => {
  const { seen, brokenMidTransaction, reconnects } = await streamWithBreak(sb.replicationUrl, async (id) => {
    await sb.query(`KILL ${id}`);
  });
  assert.ok(reconnects >= 1);
  assert.equal(brokenMidTransaction, true, "the connection was lost inside a transaction");
  await checkExactlyOnce(seen);
  const counted = await metricsRegistry.getSingleMetric("sluice_binlog_stream_reconnects_total")!.get();
  assert.ok((counted.values.find((v) => v.labels.server === `127.0.0.1:${sb.port}`)?.value ?? 0) >= 1);
});

test("a dropped TCP connection (through a relay used as fault injector) mid-transaction: same guarantee", async () => {
  const r = await relay(sb.port);
  try {
    const { seen, brokenMidTransaction, reconnects, resumedFrom } = await streamWithBreak(
      r.url(sb.replicationUrl),
      () => r.cut(),
    );
    assert.ok(reconnects >= 1);
    // The same server: its BINLOG_GTID_POS confirms the file:offset after the last complete transaction.
    assert.match(resumedFrom[1] ?? "", /^mariadb-bin\.000001:\d+$/);
    assert.equal(brokenMidTransaction, true, "the connection was lost inside a transaction");
    await checkExactlyOnce(seen);
  } finally {
    r.close();
  }
});

test("resuming by GTID state (a start position naming a domain this server lacks): same guarantee", async () => {
  // With domain 9 in the state, the server's BINLOG_GTID_POS never matches it, so the stream cannot
  // prove a file:offset equivalent and resumes by GTID (@slave_connect_state).
  const r = await relay(sb.port);
  try {
    const start = `0-${sb.serverId}-2,9-9-9`;
    const { seen, brokenMidTransaction, reconnects, resumedFrom } = await streamWithBreak(
      r.url(sb.replicationUrl),
      () => r.cut(),
      start,
    );
    assert.ok(reconnects >= 1);
    assert.match(resumedFrom[1] ?? "", /^0-\d+-\d+,9-9-9$/);
    assert.equal(brokenMidTransaction, true);
    const expected = await showBinlogEvents(sb);
    const firstTrx = seen.findIndex((e) => e.type === "mariadb_gtid");
    const got = seen.slice(firstTrx).map(listed);
    const from = expected.findIndex((e) => e.at === got[0]!.at);
    assert.deepEqual(got, expected.slice(from, from + got.length));
    assert.equal(new Set(got.map((e) => e.at)).size, got.length);
    assert.deepEqual(
      gtidsOf(seen),
      Array.from({ length: TRANSACTIONS }, (_, i) => `0-${sb.serverId}-${i + 3}`),
    );
  } finally {
    r.close();
  }
});

test("a slow consumer holds the server back: what waits in memory stays near the read-ahead bound", async () => {
  const highWaterMarkBytes = 256 * 1024;
  const stream = openBinlogStream(sb.replicationUrl, {
    start: "earliest",
    stop: "head",
    heartbeatSeconds: 0,
    highWaterMarkBytes,
  });
  let maxBuffered = 0;
  let events = 0;
  for await (const _ of stream) {
    maxBuffered = Math.max(maxBuffered, stream.status.bufferedBytes);
    // Slow: a macrotask per event, so the socket delivers much faster than this loop takes.
    if (++events % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(events > 1000);
  // Without backpressure the ~15 MB binlog would pile up here; with it, one socket read past the bound.
  assert.ok(maxBuffered > 0);
  assert.ok(maxBuffered < highWaterMarkBytes + 256 * 1024, `buffered up to ${maxBuffered} bytes`);
});

test("without reconnect, a lost connection is an error naming the server", async () => {
  const r = await relay(sb.port);
  try {
    const stream = openBinlogStream(r.url(sb.replicationUrl), {
      start: "earliest",
      heartbeatSeconds: 0,
      highWaterMarkBytes: 16 * 1024,
      reconnect: false,
    });
    await assert.rejects(
      (async () => {
        let n = 0;
        for await (const _ of stream) if (++n === 50) r.cut();
      })(),
      (e: unknown) => {
        assert.ok(isSluiceError(e));
        assert.equal(e.code, "MYSQL_CONNECTION_LOST");
        assert.match(e.message, /repl@127\.0\.0\.1:\d+/);
        return true;
      },
    );
  } finally {
    r.close();
  }
});

test("a byte damaged on the wire fails the event's CRC32: a clear error, never a wrong value", async () => {
  // 3 MB in: inside the rows data of the big transaction.
  const r = await relay(sb.port, { corruptAt: 3_000_000 });
  try {
    const stream = openBinlogStream(r.url(sb.replicationUrl), {
      start: "earliest",
      heartbeatSeconds: 0,
      reconnect: false,
    });
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (e: unknown) => {
        assert.ok(isSluiceError(e));
        assert.equal(e.code, "BINLOG_CHECKSUM");
        assert.match(String(e.context.file), /mariadb-bin\.000001/);
        assert.equal(typeof e.context.offset, "number");
        return true;
      },
    );
  } finally {
    r.close();
  }
});
