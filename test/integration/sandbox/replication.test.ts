import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  type MariadbSandbox,
  startMariadb,
  startReplication,
  waitForReplicaCatchUp,
} from "../../../src/sandbox/index.ts";

let source: MariadbSandbox;
let replica: MariadbSandbox;

before(async () => {
  [source, replica] = await Promise.all([startMariadb(), startMariadb()]);
});

after(async () => {
  await Promise.all([source?.stop(), replica?.stop()]);
});

test("a sandbox replicates natively from another through the replication user, by GTID", async () => {
  await source.query("CREATE DATABASE inventory");
  await source.query("CREATE TABLE inventory.stock (sku VARCHAR(10) PRIMARY KEY, qty INT)");
  await startReplication(replica, source);
  await source.query("INSERT INTO inventory.stock VALUES ('a', 1), ('b', 2)");
  await source.query("UPDATE inventory.stock SET qty = qty + 10 WHERE sku = 'b'");
  await waitForReplicaCatchUp(replica, source);
  assert.deepEqual(await replica.query("SELECT sku, qty FROM inventory.stock ORDER BY sku"), [
    { sku: "a", qty: 1 },
    { sku: "b", qty: 12 },
  ]);
  // log_slave_updates: the replica binlogs what it applied, under the source's server id and GTIDs.
  const [src] = await source.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
  const [rep] = await replica.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
  assert.equal(rep?.pos, src?.pos);
  assert.match(src?.pos ?? "", new RegExp(`^0-${source.serverId}-\\d+$`));
});

test("replicating from a server that is not there fails with the replica's error", async () => {
  const other = await startMariadb();
  try {
    await assert.rejects(
      startReplication(other, { port: 1, replicationUrl: "mysql://repl:x@127.0.0.1:1" }, 10_000),
      { code: "SANDBOX_REPLICATION_FAILED" },
    );
  } finally {
    await other.stop();
  }
});
