import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { metricsRegistry } from "../../../src/core/metrics.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openBinlogStream } from "../../../src/sources/replication/stream.ts";
import { collect, gtidsOf, head, isMadeUp, type ListedEvent, listed, showBinlogEvents } from "./helpers.ts";

let sb: MariadbSandbox;
let all: ListedEvent[];
let S: number;

before(async () => {
  sb = await startMariadb({});
  S = sb.serverId;
  await sb.query("CREATE DATABASE d");
  await sb.query("CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))"); // GTID 2
  await sb.query("INSERT INTO d.t VALUES (1, 'one')"); // 3
  await sb.query("INSERT INTO d.t VALUES (2, 'two'), (3, 'three')"); // 4, the last of file 1
  await sb.query("FLUSH BINARY LOGS");
  await sb.query("UPDATE d.t SET v = 'uno' WHERE id = 1"); // 5
  await sb.query("DELETE FROM d.t WHERE id = 2"); // 6
  all = await showBinlogEvents(sb);
});

after(async () => {
  await sb?.stop();
});

test("earliest to head: every event SHOW BINLOG EVENTS lists, at the same positions, in order", async () => {
  const got = await collect(sb.replicationUrl, { start: "earliest", stop: "head" });
  // Listed after the run: a background BINLOG_CHECKPOINT may have been appended since `before`.
  const listedNow = await showBinlogEvents(sb);
  assert.deepEqual(got.map(listed), listedNow.slice(0, got.length));
  assert.ok(got.length >= all.length);
  assert.deepEqual(
    gtidsOf(got),
    [1, 2, 3, 4, 5, 6].map((n) => `0-${S}-${n}`),
  );
  const rows = got.filter((e) => e.type === "update_rows_v1");
  assert.equal(rows.length, 1);
  // Counted in the process's metrics, labelled by server.
  const server = `127.0.0.1:${sb.port}`;
  const events = await metricsRegistry.getSingleMetric("sluice_binlog_stream_events_total")!.get();
  const xids = events.values.find((v) => v.labels.server === server && v.labels.type === "xid");
  assert.ok((xids?.value ?? 0) >= 3);
  const bytes = await metricsRegistry.getSingleMetric("sluice_binlog_stream_bytes_total")!.get();
  assert.ok((bytes.values.find((v) => v.labels.server === server)?.value ?? 0) >= 1000);
  const lag = await metricsRegistry.getSingleMetric("sluice_binlog_stream_lag_seconds")!.get();
  assert.ok(lag.values.some((v) => v.labels.server === server && v.value >= 0));
});

test("FILE:OFFSET start and FILE:OFFSET stop give exactly that slice", async () => {
  const from = all.findIndex((e) => e.type === "mariadb_gtid" && e.at.startsWith("mariadb-bin.000001"));
  const to = all.findIndex(
    (e, i) => i > from + 3 && e.type === "mariadb_gtid" && e.at.startsWith("mariadb-bin.000002"),
  );
  const [startFile, startRange] = all[from]!.at.split(":") as [string, string];
  const [stopFile, stopRange] = all[to]!.at.split(":") as [string, string];
  const got = await collect(sb.replicationUrl, {
    start: `${startFile}:${startRange.split("-")[0]}`,
    stop: `${stopFile}:${stopRange.split("-")[0]}`,
  });
  assert.deepEqual(got.map(listed), all.slice(from, to));
});

test("a GTID start streams from the transaction after it", async () => {
  const got = await collect(sb.replicationUrl, { start: `0-${S}-2`, stop: "head" });
  assert.deepEqual(
    gtidsOf(got),
    [3, 4, 5, 6].map((n) => `0-${S}-${n}`),
  );
  // From the first transaction on, the positions are the server's.
  const firstTrx = got.findIndex((e) => e.type === "mariadb_gtid");
  const listedNow = await showBinlogEvents(sb);
  const at = listedNow.findIndex((e) => e.at === listed(got[firstTrx]!).at);
  assert.ok(at > 0);
  const tail = got.slice(firstTrx).map(listed);
  assert.deepEqual(tail, listedNow.slice(at, at + tail.length));
});

test("a GTID start right before FLUSH BINARY LOGS (a ROTATE between the GTIDs) lands in the next file", async () => {
  const got = await collect(sb.replicationUrl, { start: `0-${S}-4`, stop: "head" });
  assert.deepEqual(gtidsOf(got), [`0-${S}-5`, `0-${S}-6`]);
  const firstTrx = got.find((e) => e.type === "mariadb_gtid")!;
  assert.equal(firstTrx.position.file, "mariadb-bin.000002");
  const listedNow = await showBinlogEvents(sb);
  assert.ok(listedNow.some((e) => e.at === listed(firstTrx).at && e.type === "mariadb_gtid"));
  // Every event after it sits where the server lists it.
  for (const ev of got)
    assert.ok(
      listedNow.some((e) => e.at === listed(ev).at && e.type === ev.type),
      listed(ev).at,
    );
});

test("a multi-domain GTID position is accepted", async () => {
  const got = await collect(sb.replicationUrl, { start: `0-${S}-5,7-99-1`, stop: "head" });
  assert.deepEqual(gtidsOf(got), [`0-${S}-6`]);
});

test("a stop GTID ends the stream after that transaction's commit", async () => {
  const got = await collect(sb.replicationUrl, { start: "earliest", stop: `0-${S}-3` });
  assert.deepEqual(
    gtidsOf(got),
    [1, 2, 3].map((n) => `0-${S}-${n}`),
  );
  assert.equal(got.at(-1)?.type, "xid");
});

test("now: only what is written after the start; head is where the run ends", async () => {
  const stream = openBinlogStream(sb.replicationUrl, { start: "now", heartbeatSeconds: 0 });
  const h = await head(sb);
  const seen: string[] = [];
  const reading = (async () => {
    for await (const ev of stream) {
      // Only the transaction's events: the server may write a BINLOG_CHECKPOINT at any time.
      if (isMadeUp(ev) || ev.gtid === undefined) continue;
      seen.push(ev.type);
      if (ev.type === "xid") break;
    }
  })();
  // The stream registers before it reads; give it the insert once it is connected.
  await new Promise<void>((resolve) => stream.once("connected", () => resolve()));
  await sb.query("INSERT INTO d.t VALUES (10, 'ten')");
  await reading;
  assert.deepEqual(seen, ["mariadb_gtid", "mariadb_annotate_rows", "table_map", "write_rows_v1", "xid"]);
  const later = await head(sb);
  assert.ok(later.offset > h.offset);
  // And a bounded run from the old head stops at the new head: exactly that transaction.
  const bounded = await collect(sb.replicationUrl, { start: `${h.file}:${h.offset}`, stop: "head" });
  assert.deepEqual(
    bounded.filter((e) => e.gtid !== undefined).map((e) => e.type),
    seen,
  );
  assert.ok(bounded.at(-1)!.position.next >= later.offset);
});

test("a start at the head with stop=head is an empty, finished run", async () => {
  const h = await head(sb);
  const got = await collect(sb.replicationUrl, { start: `${h.file}:${h.offset}`, stop: "head" });
  // (A background BINLOG_CHECKPOINT may slip in between; no transaction can.)
  assert.deepEqual(gtidsOf(got), []);
  assert.ok(got.every((e) => e.type === "mariadb_binlog_checkpoint"));
});

test("an offset that is not an event start is refused by the server's BINLOG_GTID_POS", async () => {
  await assert.rejects(
    collect(sb.replicationUrl, { start: "mariadb-bin.000001:5", stop: "head" }),
    (e: unknown) => {
      assert.ok(isSluiceError(e));
      assert.equal(e.code, "BINLOG_POSITION_UNAVAILABLE");
      return true;
    },
  );
  await assert.rejects(
    collect(sb.replicationUrl, { start: "mariadb-bin.000099:4", stop: "head" }),
    (e: unknown) => {
      assert.ok(isSluiceError(e));
      assert.equal(e.code, "BINLOG_POSITION_UNAVAILABLE");
      return true;
    },
  );
});

test("heartbeats arrive from an idle server, and say the stream is not late", async () => {
  const stream = openBinlogStream(sb.replicationUrl, {
    start: "now",
    heartbeatSeconds: 0.2,
    serverId: 777001,
  });
  let beats = 0;
  let registered: unknown[] = [];
  for await (const ev of stream) {
    if (ev.type === "heartbeat") beats++;
    // While it streams, the server lists it as a replica under the server id it was given.
    if (beats === 1) registered = await sb.query<{ Server_id: number }>("SHOW SLAVE HOSTS");
    if (beats === 2) break;
  }
  assert.equal(beats, 2);
  assert.equal(stream.status.lagSeconds, 0);
  assert.ok(registered.some((h) => (h as { Server_id: number }).Server_id === 777001));
});
