import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  type MariadbSandbox,
  startMariadb,
  startReplication,
  waitForReplicaCatchUp,
} from "../../../src/sandbox/index.ts";
import { openBinlogStream } from "../../../src/sources/replication/stream.ts";
import { collect, gtidsOf, isMadeUp } from "./helpers.ts";

// The seed's multi-source problem: a binlog whose transactions come from two servers in two domains.
// The source writes domain 0; the replica logs what it applies and writes domain 1 itself.
let source: MariadbSandbox;
let replica: MariadbSandbox;

before(async () => {
  source = await startMariadb({ gtidDomainId: 0 });
  replica = await startMariadb({ gtidDomainId: 1 });
  await startReplication(replica, source);
  await source.query("CREATE DATABASE a");
  await source.query("CREATE TABLE a.t (id INT PRIMARY KEY)");
  await waitForReplicaCatchUp(replica, source);
  await replica.query("CREATE DATABASE b");
  await replica.query("CREATE TABLE b.t (id INT PRIMARY KEY)");
  for (let i = 1; i <= 3; i++) {
    await source.query(`INSERT INTO a.t VALUES (${i})`);
    await waitForReplicaCatchUp(replica, source);
    await replica.query(`INSERT INTO b.t VALUES (${i})`);
  }
});

after(async () => {
  await replica?.stop();
  await source?.stop();
});

test("GTIDs carry each transaction's own server id, as SHOW BINLOG EVENTS prints them", async () => {
  const got = await collect(replica.replicationUrl, { start: "earliest", stop: "head" });
  const logs = await replica.query<{ Log_name: string }>("SHOW BINARY LOGS");
  const listed: string[] = [];
  for (const { Log_name } of logs) {
    const rows = await replica.query<{ Event_type: string; Info: string }>(
      `SHOW BINLOG EVENTS IN '${Log_name}'`,
    );
    for (const r of rows) if (r.Event_type === "Gtid") listed.push(/GTID (\d+-\d+-\d+)/.exec(r.Info)![1]!);
  }
  assert.deepEqual(gtidsOf(got), listed);
  assert.ok(listed.some((g) => g.startsWith(`0-${source.serverId}-`)));
  assert.ok(listed.some((g) => g.startsWith(`1-${replica.serverId}-`)));
});

test("the GTID state after a run is the server's own gtid_binlog_pos", async () => {
  const stream = openBinlogStream(replica.replicationUrl, {
    start: "earliest",
    stop: "head",
    heartbeatSeconds: 0,
  });
  for await (const _ of stream);
  const [pos] = await replica.query<{ p: string }>("SELECT @@gtid_binlog_pos AS p");
  assert.equal(stream.status.gtidState, pos!.p);
});

test("a multi-domain start position streams only what is after it in each domain", async () => {
  // Each domain: 1 CREATE DATABASE, 2 CREATE TABLE, 3..5 the inserts; the binlog interleaves them
  // 0-3, 1-3, 0-4, 1-4, 0-5, 1-5. After the second insert of domain 0 and the first of domain 1:
  const start = `0-${source.serverId}-4,1-${replica.serverId}-3`;
  const got = await collect(replica.replicationUrl, { start, stop: "head" });
  assert.deepEqual(gtidsOf(got), [
    `1-${replica.serverId}-4`,
    `0-${source.serverId}-5`,
    `1-${replica.serverId}-5`,
  ]);
});

test("a multi-domain stop position ends once every domain reached it", async () => {
  const stop = `0-${source.serverId}-4,1-${replica.serverId}-4`;
  const stream = openBinlogStream(replica.replicationUrl, { start: "earliest", stop, heartbeatSeconds: 0 });
  const seen: string[] = [];
  for await (const ev of stream) if (!isMadeUp(ev) && ev.type === "mariadb_gtid") seen.push(ev.gtid!);
  assert.equal(seen.at(-1), `1-${replica.serverId}-4`);
  assert.ok(!seen.includes(`0-${source.serverId}-5`));
});
