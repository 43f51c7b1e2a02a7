import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { CommandEvent, ConnectEvent, ResponseEvent, SessionEvent } from "../../../src/capture/events.ts";
import { comparable, decodeFixture, fixturePath } from "./helpers.ts";

const commands = (events: SessionEvent[]) => events.filter((e): e is CommandEvent => e.type === "command");
const responses = (events: SessionEvent[]) => events.filter((e): e is ResponseEvent => e.type === "response");

/** The statements of script.sql as the mariadb CLI sends them (one COM_QUERY per statement). */
function scriptStatements(): string[] {
  return readFileSync(fixturePath("script.sql"), "utf8")
    .split(/;\s*/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && !/^USE /i.test(s));
}

test("mariadb CLI: every command of the script comes out in order, each with its response", () => {
  const { events, stats } = decodeFixture("cli.pcap");
  assert.equal(stats.gaps, 0);
  assert.equal(stats.resyncs, 0);
  const connect = events[0] as ConnectEvent;
  assert.equal(connect.type, "connect");
  assert.equal(connect.user, "root");
  assert.equal(connect.midStream, false);
  assert.match(connect.serverVersion ?? "", /MariaDB/);
  assert.equal(events.at(-1)?.type, "close");
  assert.equal((events.at(-1) as { reason: string }).reason, "quit");

  const queries = commands(events)
    .filter((c) => c.kind === "query" && c.sql !== "SELECT DATABASE()")
    .map((c) => c.sql);
  assert.deepEqual(queries, scriptStatements());
  // USE: the CLI asks SELECT DATABASE() then sends COM_INIT_DB.
  const initDb = commands(events).find((c) => c.kind === "init_db");
  assert.equal(initDb?.sql, "sluice_capture");

  // Every command but COM_QUIT is answered, right after it, by a response with its seq.
  const cmds = commands(events);
  const resps = responses(events);
  assert.equal(resps.length, cmds.length - 1);
  for (const r of resps) {
    const i = events.indexOf(r);
    const prev = events[i - 1] as CommandEvent;
    assert.equal(prev.type, "command");
    assert.equal(prev.seq, r.seq);
    assert.ok(r.latencyUs >= 0);
    assert.ok(r.ts >= prev.ts);
  }
  const bySql = (sql: string) => resps.find((r) => r.seq === cmds.find((c) => c.sql === sql)?.seq)!;
  assert.equal(bySql("INSERT INTO t (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)").affectedRows, 3);
  assert.deepEqual(
    {
      rows: bySql("SELECT * FROM t WHERE n > 1").rows,
      columns: bySql("SELECT * FROM t WHERE n > 1").columns,
    },
    { rows: 2, columns: 3 },
  );
  const err = bySql("SELECT * FROM no_such_table");
  assert.equal(err.ok, false);
  assert.equal(err.errno, 1146);
  assert.equal(err.sqlState, "42S02");
  assert.match(err.message ?? "", /doesn't exist/);
  assert.equal(bySql("DELETE FROM t WHERE id = 2").affectedRows, 1);
  // After COM_INIT_DB succeeded, commands carry the database.
  assert.equal(cmds.find((c) => c.sql === "SELECT 1")?.db, "sluice_capture");
});

test("the same conversation decodes the same from SLL, SLL2, nanosecond pcap and pcapng captures", () => {
  // Separate runs of the script: only the first created the database (affected rows, warnings).
  const strip = (es: SessionEvent[]) =>
    (comparable(es) as Record<string, unknown>[]).map(({ warnings: _w, ...r }) =>
      r.seq === 1 ? { ...r, affectedRows: undefined } : r,
    );
  const reference = strip(decodeFixture("cli.pcap").events);
  for (const name of ["cli-sll.pcap", "cli-sll2.pcap", "cli-nano.pcap", "cli.pcapng"]) {
    const { events, stats } = decodeFixture(name);
    assert.equal(stats.gaps, 0, name);
    assert.deepEqual(strip(events), reference, name);
  }
});

test("pcapng keeps the timestamps of the pcap it was converted from", () => {
  const a = decodeFixture("cli.pcap").events;
  const b = decodeFixture("cli.pcapng").events;
  assert.deepEqual(
    a.map((e) => e.ts),
    b.map((e) => e.ts),
  );
});

test("mysql2 prepared statements: ids learned from COM_STMT_PREPARE_OK, parameters decoded", () => {
  const { events, stats } = decodeFixture("ps.pcap");
  assert.equal(stats.unknownStatements, 0);
  const cmds = commands(events);
  const resps = responses(events);
  const prepare = cmds.find((c) => c.kind === "stmt_prepare" && c.sql?.startsWith("INSERT INTO ps"))!;
  const prepared = resps.find((r) => r.seq === prepare.seq)!;
  assert.equal(prepared.paramCount, 7);
  assert.ok(prepared.statementId !== undefined);
  const executes = cmds.filter((c) => c.kind === "stmt_execute" && c.statementId === prepared.statementId);
  assert.equal(executes.length, 3);
  assert.deepEqual(executes[0]!.params, [
    1,
    "name-1",
    "12.50",
    "2024-01-01 10:20:30.123000",
    "18446744073709551615",
    1.5,
    "xxxxxxxxxx",
  ]);
  assert.equal(executes[1]!.params?.[6], null);
  assert.equal(executes[2]!.params?.[5], 4.5);
  for (const e of executes) assert.equal(resps.find((r) => r.seq === e.seq)?.affectedRows, 1);

  const select = cmds.find((c) => c.kind === "stmt_execute" && c.params?.length === 1)!;
  const selected = resps.find((r) => r.seq === select.seq)!;
  assert.deepEqual([selected.columns, selected.rows], [2, 2]);

  const failed = resps.find((r) => r.kind === "stmt_prepare" && !r.ok)!;
  assert.equal(failed.errno, 1146);

  const multi = resps.find((r) => r.seq === cmds.find((c) => c.sql === "SELECT 1; SELECT 2")?.seq)!;
  assert.deepEqual([multi.resultSets, multi.rows], [2, 2]);
});

test("a compressed session (mysql2 compress: true) decodes to the same commands and responses", () => {
  const plain = decodeFixture("ps.pcap").events;
  const { events, stats } = decodeFixture("compressed.pcap");
  assert.equal(stats.decodeErrors, 0);
  assert.equal((events[0] as ConnectEvent).compressed, true);
  assert.equal((plain[0] as ConnectEvent).compressed, false);
  // The two runs differ only in what the first run left behind (the table existed, rows to delete).
  const strip = (es: SessionEvent[]) =>
    (comparable(es) as Record<string, unknown>[]).map(
      ({ capabilities: _c, compressed: _z, warnings: _w, affectedRows: _a, ...r }) => r,
    );
  assert.deepEqual(strip(events), strip(plain));
  const longText = responses(events).find(
    (r) => r.seq === commands(events).find((c) => c.sql?.includes("REPEAT('abc', 2000)"))?.seq,
  );
  assert.deepEqual([longText?.columns, longText?.rows], [2, 1]);
});

test("sysbench oltp_read_write: as many commands of each kind as the server's general log recorded", () => {
  const { events, stats } = decodeFixture("sysbench.pcap");
  assert.equal(stats.gaps, 0);
  const count = (kind: string) => commands(events).filter((c) => c.kind === kind).length;
  // Figures from the general log of the same run (README.md).
  assert.equal(count("stmt_execute"), 320);
  assert.equal(count("stmt_prepare"), 22);
  assert.equal(count("stmt_close"), 22);
  assert.equal(count("quit"), 2);
  assert.equal(events.filter((e) => e.type === "connect").length, 2);
  // Every execute carries as many decoded parameters as its statement was prepared with.
  const paramCounts = new Map<number, number>();
  for (const r of responses(events))
    if (r.kind === "stmt_prepare") paramCounts.set(r.session * 1e6 + r.statementId!, r.paramCount!);
  const executes = commands(events).filter((c) => c.kind === "stmt_execute");
  assert.ok(executes.some((e) => (e.params?.length ?? 0) > 0));
  for (const e of executes) assert.equal(e.params?.length, paramCounts.get(e.session * 1e6 + e.statementId!));
  assert.equal(responses(events).filter((r) => r.kind === "stmt_execute").length, 320);
});

test("mysql2's rarer commands: ping, LOAD DATA LOCAL INFILE, change user, reset connection, an error inside a multi-statement", () => {
  const { events, stats } = decodeFixture("commands.pcap");
  assert.equal(stats.decodeErrors, 0);
  const answer = (pred: (c: CommandEvent) => boolean) => {
    const c = commands(events).find(pred);
    assert.ok(c, "command not found");
    return responses(events).find((r) => r.seq === c.seq && r.session === c.session)!;
  };
  assert.equal(answer((c) => c.kind === "ping").ok, true);
  assert.equal(answer((c) => c.sql?.startsWith("LOAD DATA LOCAL INFILE") ?? false).affectedRows, 3);
  assert.equal(answer((c) => c.sql === "SELECT COUNT(*) AS n FROM li").rows, 1);
  const multi = answer((c) => c.sql === "SELECT 1; SELECT * FROM missing_table; SELECT 3");
  assert.deepEqual([multi.ok, multi.errno, multi.resultSets, multi.rows], [false, 1146, 1, 1]);
  assert.equal(answer((c) => c.kind === "change_user").ok, true);
  // After COM_CHANGE_USER to database `mysql`, commands carry it.
  assert.equal(commands(events).find((c) => c.sql === "SELECT DATABASE() AS db")?.db, "mysql");
  assert.equal(answer((c) => c.kind === "reset_connection").ok, true);
  assert.equal(answer((c) => c.sql === "SELECT 'after reset'").rows, 1);
  assert.ok(commands(events).some((c) => c.kind === "stmt_close"));
  assert.equal((events.at(-1) as { reason: string }).reason, "quit");
});
