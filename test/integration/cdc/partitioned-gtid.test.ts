import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { SETUP, TRACKED, workloadStatements } from "./workload.ts";

// A partitioned catch-up from a MariaDB GTID position: the server's BINLOG_GTID_POS confirms the
// file position it starts from, and the history holds exactly the transactions after that GTID.
let db: MariadbSandbox;
let dir: string;
let fromFile: string;
/** GTID state after a transaction in the middle of the first file. */
let mid: string;
/** GTID state after the last transaction of the first file (the next one is in the second file). */
let endOfFile: string;
const env = { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_LOG_LEVEL: "warn" };

const gtidPos = async () => {
  const [r] = await db.query<{ p: string }>("SELECT @@global.gtid_binlog_pos AS p");
  return r!.p;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-cdc-gtid-"));
  db = await startMariadb();
  for (const s of SETUP) await db.query(s);
  const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
  fromFile = `${st!.File}:${st!.Position}`;
  const statements = [...workloadStatements({ statements: 40, rowsPerStatement: 10 })];
  for (const [i, s] of statements.entries()) {
    await db.query(s);
    if (i === 37) mid = await gtidPos();
    if (i === 59) {
      endOfFile = await gtidPos();
      await db.query("FLUSH BINARY LOGS");
    }
  }
});

after(async () => {
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function run(store: string, start: string, workers: number) {
  return spawnSync(
    process.execPath,
    [
      "bin/sluice.js",
      "cdc",
      "run",
      "--source",
      db.replicationUrl,
      "--store",
      `file:${store}`,
      "--start",
      start,
      "--include",
      TRACKED,
      "--workers",
      String(workers),
      "--range-events",
      "40",
      "--until-head",
      "--json",
    ],
    { env, encoding: "utf8" },
  );
}

/** Every transaction in the store with its row and column counts, in binlog order. */
function history(store: string): string[] {
  const h = new Database(store, { readonly: true });
  try {
    return h
      .prepare(
        `SELECT b.gtid || ' ' || b.file || ':' || b.pos || ' ' ||
           (SELECT count(*) FROM "row" r WHERE r.binlog_id = b.id) || ' ' ||
           (SELECT count(*) FROM "column" c WHERE c.binlog_id = b.id) AS t
         FROM binlog b ORDER BY b.file, b.pos`,
      )
      .pluck()
      .all() as string[];
  } finally {
    h.close();
  }
}

const seq = (line: string) => Number(line.split(" ")[0]!.split("-")[2]);

let all: string[];

test("reference: the whole workload from a file position", () => {
  const store = join(dir, "all.db");
  const r = run(store, fromFile, 3);
  assert.equal(r.status, 0, r.stderr);
  all = history(store);
  assert.equal(all.length, 60);
});

for (const [label, at] of [
  ["in the middle of a file", () => mid],
  ["at the end of a file", () => endOfFile],
] as const) {
  test(`--workers 3 from a GTID ${label}: exactly the transactions after it, as --workers 1 from it`, () => {
    const gtid = at();
    const after = Number(gtid.split("-")[2]);
    const expected = all.filter((l) => seq(l) > after);
    assert.ok(expected.length > 0 && expected.length < all.length);
    const many = join(dir, `many-${after}.db`);
    const r = run(many, gtid, 3);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { ranges: number };
    assert.ok(summary.ranges > 1, `${summary.ranges} range(s)`);
    assert.deepEqual(history(many), expected);
    const one = join(dir, `one-${after}.db`);
    const s = run(one, gtid, 1);
    assert.equal(s.status, 0, s.stderr);
    assert.deepEqual(history(one), expected);
  });
}

test("a GTID position no binlog position has is refused, saying what to give instead", () => {
  const r = run(join(dir, "bad.db"), `${mid},7-1-3`, 3);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /no single binlog position has the GTID state/);
  assert.match(r.stderr, /FILE:OFFSET/);
  // A GTID the server has not written yet.
  const [domain, server] = mid.split("-");
  const ahead = run(join(dir, "ahead.db"), `${domain}-${server}-999999`, 3);
  assert.notEqual(ahead.status, 0);
  assert.match(ahead.stderr, /is not in the binlog of the source/);
  assert.match(ahead.stderr, /FILE:OFFSET/);
});

test("a MySQL GTID set is refused for a partitioned catch-up, saying what to give instead", () => {
  const r = run(join(dir, "mysql.db"), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", 3);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /MySQL GTID set/);
  assert.match(r.stderr, /FILE:OFFSET/);
});

test("a GTID position over two domains: from the one file position that has it, else refused", async () => {
  // Transactions of domains 0 and 1 interleaved: d0 d1 d0 d1 ...
  const other = await mysql.createConnection(db.url);
  const states: Array<{ gtid: string; at: string }> = [];
  try {
    await other.query("SET SESSION gtid_domain_id = 1");
    for (let i = 0; i < 8; i++) {
      const sql = `INSERT INTO ${TRACKED} (data, data2, admin_id) VALUES ('x${i}', 'y${i}', 'domains')`;
      if (i % 2 === 0) await db.query(sql);
      else await other.query(sql);
      const [st] = await db.query<{ File: string; Position: number }>("SHOW MASTER STATUS");
      states.push({ gtid: await gtidPos(), at: `${st!.File}:${String(st!.Position).padStart(12, "0")}` });
    }
  } finally {
    await other.end();
  }
  const reference = join(dir, "domains-all.db");
  const r = run(reference, fromFile, 3);
  assert.equal(r.status, 0, r.stderr);
  const key = (line: string) => {
    const [file, pos] = line.split(" ")[1]!.split(":");
    return `${file}:${pos!.padStart(12, "0")}`;
  };
  const whole = history(reference);
  const { gtid, at } = states[4]!;
  assert.match(gtid, /^0-\d+-\d+,1-\d+-\d+$/);
  const expected = whole.filter((l) => key(l) >= at);
  assert.equal(expected.length, 3);
  const many = join(dir, "domains-many.db");
  const m = run(many, gtid, 3);
  assert.equal(m.status, 0, m.stderr);
  assert.deepEqual(history(many), expected);
  const one = join(dir, "domains-one.db");
  const o = run(one, gtid, 1);
  assert.equal(o.status, 0, o.stderr);
  assert.deepEqual(history(one), expected);
  // Domain 0 as after the 1st of them, domain 1 as after the 4th: no position has that state.
  const d0 = states[0]!.gtid.split(",").find((g) => g.startsWith("0-"))!;
  const d1 = states[3]!.gtid.split(",").find((g) => g.startsWith("1-"))!;
  const bad = run(join(dir, "domains-bad.db"), `${d0},${d1}`, 3);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /no single binlog position has the GTID state/);
  assert.match(bad.stderr, /FILE:OFFSET/);
});
