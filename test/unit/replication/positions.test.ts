import assert from "node:assert/strict";
import { test } from "node:test";
import {
  compareBinlogPositions,
  parseStartSpec,
  parseStopSpec,
} from "../../../src/sources/replication/positions.ts";

test("start specs", () => {
  assert.deepEqual(parseStartSpec("now"), { kind: "now" });
  assert.deepEqual(parseStartSpec("earliest"), { kind: "earliest" });
  assert.deepEqual(parseStartSpec("mariadb-bin.000044:1234"), {
    kind: "file",
    file: "mariadb-bin.000044",
    offset: 1234,
  });
  const g = parseStartSpec("0-1-7140,1-2-33");
  assert.equal(g.kind, "mariadb-gtid");
  assert.equal(g.kind === "mariadb-gtid" && g.position.toString(), "0-1-7140,1-2-33");
  const m = parseStartSpec("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5");
  assert.equal(m.kind === "mysql-gtid" && m.set.toString(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5");
});

test("bad start specs say what is expected", () => {
  for (const bad of ["", "soon", "file:1", "0-1", "0-1-2,0-3-4", "x:abc"]) {
    assert.throws(
      () => parseStartSpec(bad),
      (e: Error & { code?: string }) => e.code === "USAGE_BINLOG_POSITION",
      bad,
    );
  }
});

test("stop specs", () => {
  assert.deepEqual(parseStopSpec("head"), { kind: "head" });
  assert.deepEqual(parseStopSpec("mariadb-bin.000002:585"), {
    kind: "file",
    file: "mariadb-bin.000002",
    offset: 585,
  });
  const g = parseStopSpec("0-1-9");
  assert.equal(g.kind === "mariadb-gtid" && g.position.toString(), "0-1-9");
});

test("positions order by file number, then offset", () => {
  assert.ok(compareBinlogPositions({ file: "b.000009", offset: 900 }, { file: "b.000010", offset: 4 }) < 0);
  assert.ok(compareBinlogPositions({ file: "b.999999", offset: 4 }, { file: "b.1000000", offset: 4 }) < 0);
  assert.equal(compareBinlogPositions({ file: "b.000010", offset: 4 }, { file: "b.000010", offset: 4 }), 0);
  assert.ok(compareBinlogPositions({ file: "b.000010", offset: 100 }, { file: "b.000010", offset: 4 }) > 0);
});
