import assert from "node:assert/strict";
import { test } from "node:test";
import {
  formatMariadbGtid,
  formatMysqlGtid,
  GtidSet,
  MariadbGtidPosition,
  parseMariadbGtid,
} from "../../../src/codecs/binlog/gtid.ts";
import { SluiceError } from "../../../src/core/errors.ts";

const U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
const U2 = "57b70f4e-20e3-11e7-a4c7-0242ac110002";

test("MariaDB GTID round trip", () => {
  const g = parseMariadbGtid("0-1-7140");
  assert.deepEqual(g, { domainId: 0, serverId: 1, seqNo: 7140n });
  assert.equal(formatMariadbGtid(g), "0-1-7140");
  assert.equal(
    formatMariadbGtid(parseMariadbGtid("4294967295-4294967295-18446744073709551615")),
    "4294967295-4294967295-18446744073709551615",
  );
  assert.throws(() => parseMariadbGtid("0-1"), SluiceError);
  assert.throws(() => parseMariadbGtid("4294967296-1-1"), SluiceError);
});

test("MariaDB GTID position: one GTID per domain, sorted by domain", () => {
  const p = MariadbGtidPosition.parse("1-2-33, 0-1-7140");
  assert.equal(p.toString(), "0-1-7140,1-2-33");
  assert.equal(p.get(1)?.seqNo, 33n);
  p.set({ domainId: 1, serverId: 3, seqNo: 34n });
  assert.equal(p.toString(), "0-1-7140,1-3-34");
  assert.equal(MariadbGtidPosition.parse("").size, 0);
  assert.throws(() => MariadbGtidPosition.parse("0-1-1,0-2-2"), /appears twice/);
});

test("MySQL GTID set parse and format", () => {
  const s = GtidSet.parse(`${U2}:5,${U1.toUpperCase()}:1-100:200`);
  assert.equal(s.toString(), `${U1}:1-100:200,${U2}:5`);
  assert.ok(s.contains(U1, 50));
  assert.ok(s.contains(U1, 200n));
  assert.ok(!s.contains(U1, 150));
  assert.ok(!s.contains(U2, 4));
});

test("GTID set intervals merge when adjacent or overlapping", () => {
  const s = GtidSet.parse(`${U1}:1-5:6-10:8-12:20`);
  assert.equal(s.toString(), `${U1}:1-12:20`);
  s.add(U1, 13);
  s.addInterval(U1, 14n, 19n);
  assert.equal(s.toString(), `${U1}:1-20`);
});

test("tagged GTIDs (MySQL 8.3+)", () => {
  const s = GtidSet.parse(`${U1}:1-3:mytag:5-7:9,${U1}:alpha:1`);
  assert.ok(s.contains(U1, 6, "mytag"));
  assert.ok(!s.contains(U1, 6));
  assert.equal(s.toString(), `${U1}:1-3:alpha:1:mytag:5-7:9`);
  assert.equal(formatMysqlGtid(U1, 42n, "mytag"), `${U1}:mytag:42`);
  assert.equal(formatMysqlGtid(U1, 42), `${U1}:42`);
});

test("bad GTID sets are errors that quote the value", () => {
  assert.throws(
    () => GtidSet.parse("nope:1"),
    (e: unknown) => e instanceof SluiceError && /nope/.test(e.message),
  );
  assert.throws(() => GtidSet.parse(`${U1}:5-3`), /bad interval/);
  assert.throws(() => GtidSet.parse(`${U1}:0`), /bad interval/);
  assert.throws(() => GtidSet.parse(U1), /no transaction numbers/);
  assert.equal(GtidSet.parse("").isEmpty, true);
});
