import assert from "node:assert/strict";
import { test } from "node:test";
import { QueryDigest } from "../../../src/capture/digest.ts";
import { fingerprint } from "../../../src/capture/fingerprint.ts";
import { decodeFixture } from "./helpers.ts";

test("fingerprints: literals, comments, whitespace, case and lists folded", () => {
  const same = [
    ["SELECT * FROM t WHERE id = 7", "select *  from t\n where id=12 -- trailing"],
    ["SELECT c FROM t WHERE id IN (1, 2, 3)", "select c from t where id in ('a')"],
    ["INSERT INTO t (a, b) VALUES (1, 'x'), (2, NULL)", "insert into t (a,b) values (3,'y')"],
    ["SELECT /* hint */ a FROM t WHERE x = 0x1F AND y = -1.5e3", "SELECT a FROM t WHERE x=X'ab' AND y=2 # c"],
    ["SELECT a FROM t WHERE s = 'it''s' AND u = \"q\\\"x\"", "SELECT a FROM t WHERE s='' AND u=''"],
  ];
  for (const [a, b] of same) assert.equal(fingerprint(a!), fingerprint(b!), `${a} ~ ${b}`);
  assert.equal(fingerprint("SELECT c FROM sbtest1 WHERE id = 42"), "select c from sbtest1 where id=?");
  assert.equal(fingerprint("INSERT INTO t VALUES (1,2),(3,4)"), "insert into t values(?+)");
  assert.equal(fingerprint("SELECT * FROM `Tab1` WHERE col2 = 5"), "select * from `Tab1` where col2=?");
  assert.equal(fingerprint("SELECT /*!40001 SQL_NO_CACHE */ * FROM t"), "select sql_no_cache * from t");
  assert.notEqual(fingerprint("SELECT a FROM t1"), fingerprint("SELECT a FROM t2"));
});

test("digest of the mariadb CLI capture: one row per fingerprint with counts, errors and rows", () => {
  const digest = new QueryDigest();
  for (const e of decodeFixture("cli.pcap").events) digest.add(e);
  const rows = digest.rows();
  assert.equal(digest.unmatched, 0);
  const byFp = new Map(rows.map((r) => [r.fingerprint, r]));
  const failed = byFp.get("select * from no_such_table")!;
  assert.deepEqual([failed.count, failed.errors], [1, 1]);
  assert.equal(byFp.get("insert into t(name, n) values(?+)")?.affectedRows, 3);
  assert.equal(byFp.get("select * from t where n>?")?.rows, 2);
  assert.equal(byFp.get("# init_db")?.count, 1);
  // HDR values are exact to 3 significant digits.
  for (const r of rows)
    assert.ok(r.p50Us <= r.p99Us && r.p99Us <= r.maxUs * 1.001 + 1 && r.totalUs * 1.001 + 1 >= r.maxUs);
  // Sorted by total response time.
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1]!.totalUs >= rows[i]!.totalUs);
});

test("digest of sysbench: executions count under the SQL they were prepared from", () => {
  const digest = new QueryDigest();
  for (const e of decodeFixture("sysbench.pcap").events) digest.add(e);
  const rows = new Map(digest.rows().map((r) => [r.fingerprint, r]));
  // 16 transactions x 10 point selects.
  assert.equal(rows.get("select c from sbtest1 where id=?")?.count, 160);
  assert.equal(rows.get("select c from sbtest1 where id between ? and ? order by c")?.rows, 1600);
  assert.equal(rows.get("commit")?.count, 16);
  assert.ok(![...rows.keys()].some((k) => k.includes("prepared before the capture")));
});
