import assert from "node:assert/strict";
import { test } from "node:test";
import { GtidSet } from "../../../src/codecs/binlog/gtid.ts";
import {
  BinlogDumpFlag,
  encodeBinlogDump,
  encodeBinlogDumpGtid,
  encodeMysqlGtidSet,
  encodeRegisterSlave,
} from "../../../src/sources/replication/commands.ts";

test("COM_BINLOG_DUMP as in the MariaDB protocol docs' example", () => {
  const payload = encodeBinlogDump({
    position: 0x634,
    flags: BinlogDumpFlag.SEND_ANNOTATE_ROWS,
    serverId: 0x2775,
    file: "mysql-bin.000034",
  });
  assert.equal(
    payload.toString("hex"),
    `1234060000020075270000${Buffer.from("mysql-bin.000034").toString("hex")}`,
  );
});

test("COM_REGISTER_SLAVE carries the server id and empty strings", () => {
  const p = encodeRegisterSlave({ serverId: 4242 });
  assert.equal(p[0], 0x15);
  assert.equal(p.readUInt32LE(1), 4242);
  assert.deepEqual(p.subarray(5), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
});

test("MySQL GTID set encoding: sids, intervals with exclusive ends", () => {
  const set = GtidSet.parse(
    "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,00000000-0000-0000-0000-000000000001:3",
  );
  const b = encodeMysqlGtidSet(set);
  assert.equal(b.readBigUInt64LE(0), 2n);
  // Sorted by uuid: the 0000... one first.
  assert.equal(b.subarray(8, 24).toString("hex"), "00000000000000000000000000000001");
  assert.equal(b.readBigUInt64LE(24), 1n);
  assert.equal(b.readBigUInt64LE(32), 3n);
  assert.equal(b.readBigUInt64LE(40), 4n);
  assert.equal(b.subarray(48, 64).toString("hex"), "3e11fa4771ca11e19e33c80aa9429562");
  assert.equal(b.readBigUInt64LE(64), 2n);
  assert.deepEqual(
    [72, 80, 88, 96].map((o) => b.readBigUInt64LE(o)),
    [1n, 6n, 7n, 8n],
  );
  assert.equal(b.length, 104);
});

test("COM_BINLOG_DUMP_GTID layout", () => {
  const set = GtidSet.parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100");
  const p = encodeBinlogDumpGtid({ flags: 0, serverId: 7, file: "", position: 4, gtidSet: set });
  assert.equal(p[0], 0x1e);
  assert.equal(p.readUInt16LE(1), BinlogDumpFlag.THROUGH_GTID);
  assert.equal(p.readUInt32LE(3), 7);
  assert.equal(p.readUInt32LE(7), 0);
  assert.equal(p.readBigUInt64LE(11), 4n);
  const dataLength = p.readUInt32LE(19);
  assert.equal(dataLength, 8 + 16 + 8 + 16);
  assert.deepEqual(p.subarray(23), encodeMysqlGtidSet(set));
});

test("tagged GTIDs are refused with a clear error", () => {
  assert.throws(
    () => encodeMysqlGtidSet(GtidSet.parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag1:1-3")),
    /tagged/,
  );
});
