// MariaDB 10.11 specifics from a real server: XA transactions (GTID with XID, XA_PREPARE event,
// XA COMMIT in its own GTID) and two-phase ALTER (binlog_alter_two_phase: START ALTER, then
// COMMIT ALTER naming it in the GTID's extra flags and in the query's Q_GTID_FLAGS3).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import mysql from "mysql2/promise";
import type { BinlogEvent, EventOfType } from "../../../src/codecs/binlog/events.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";

let sandbox: MariadbSandbox;

before(async () => {
  sandbox = await startMariadb({ extraArgs: ["--binlog-alter-two-phase=ON"] });
});

after(async () => {
  await sandbox?.stop();
});

function only<T extends BinlogEvent["type"]>(events: BinlogEvent[], type: T) {
  return events.filter((e) => e.type === type) as Array<EventOfType<T>>;
}

test("XA and two-phase ALTER decode with their GTID flags, XIDs and start-alter links", async () => {
  const [st] = await sandbox.query<{ File: string }>("SHOW MASTER STATUS");
  const c = await mysql.createConnection(sandbox.url);
  try {
    await c.query("CREATE DATABASE x");
    await c.query("CREATE TABLE x.t (id INT PRIMARY KEY) ENGINE=InnoDB");
    await c.query("XA START 'trx1', 'bq', 7");
    await c.query("INSERT INTO x.t VALUES (1)");
    await c.query("XA END 'trx1', 'bq', 7");
    await c.query("XA PREPARE 'trx1', 'bq', 7");
    await c.query("XA COMMIT 'trx1', 'bq', 7");
    await c.query("ALTER TABLE x.t ADD COLUMN v INT");
  } finally {
    await c.end();
  }
  await sandbox.query("FLUSH BINARY LOGS");
  const events: BinlogEvent[] = [];
  for await (const ev of readBinlogFiles({ files: [join(sandbox.binlogDir, st!.File)] })) events.push(ev);

  const gtids = only(events, "mariadb_gtid");
  const prepared = gtids.find((g) => g.flags & 64)!;
  assert.deepEqual(prepared.xa, { formatId: 7, gtrid: "trx1", bqual: "bq" });
  const xaPrepare = only(events, "xa_prepare")[0]!;
  assert.deepEqual([xaPrepare.gtrid, xaPrepare.bqual, xaPrepare.formatId], ["trx1", "bq", 7]);
  assert.equal(xaPrepare.gtid, prepared.gtid);
  const rows = only(events, "write_rows_v1")[0]!;
  assert.equal(rows.gtid, prepared.gtid);
  const completed = gtids.find((g) => g.flags & 128)!;
  assert.deepEqual(completed.xa, { formatId: 7, gtrid: "trx1", bqual: "bq" });
  const xaCommit = only(events, "query").find((q) => q.query.startsWith("XA COMMIT"))!;
  assert.equal(xaCommit.gtid, completed.gtid);

  const startAlter = gtids.find((g) => (g.flagsExtra ?? 0) & 2)!;
  const commitAlter = gtids.find((g) => (g.flagsExtra ?? 0) & 4)!;
  assert.equal(commitAlter.startAlterSeqNo, startAlter.seqNo);
  const alters = only(events, "query").filter((q) => q.query === "ALTER TABLE x.t ADD COLUMN v INT");
  assert.equal(alters.length, 2);
  assert.equal(alters[1]!.status.startAlterSeqNo, startAlter.seqNo);
  assert.equal(alters[1]!.gtid, commitAlter.gtid);
  assert.equal(events[events.length - 1]!.type, "rotate");
});
