import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { textOrHex } from "../../../src/codecs/mysql/binary-values.ts";
import { replaySessions } from "../../../src/replay/player.ts";
import { plansFromPcap } from "../../../src/replay/source.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { ROWS } from "../../fixtures/pcap/long-data-client.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const fixture = (name: string) => join(root, "test/fixtures/pcap", name);

let db: MariadbSandbox;
before(async () => {
  db = await startMariadb();
});
after(async () => {
  await db?.stop();
});

test("long-data.pcap replayed: the target runs the source's statements with the same long data values (general log), and ends with the same rows", async () => {
  await db.query("SET GLOBAL log_output = 'TABLE'");
  await db.query("TRUNCATE mysql.general_log");
  await db.query("SET GLOBAL general_log = 1");
  const plans = await plansFromPcap(fixture("long-data.pcap"), [44991], "max");
  const result = await replaySessions(plans, { target: db.url, speed: "max" });
  await db.query("SET GLOBAL general_log = 0");
  const s = result.summary;
  assert.equal(s.skipped, 0, JSON.stringify(s));
  assert.equal(s.differences.errors, 0, JSON.stringify(s));
  assert.equal(s.differences.affectedRows, 0, JSON.stringify(s));
  assert.equal(s.differences.rows, 0, JSON.stringify(s));

  // The witness: the statements and their parameter values, as each server's general log wrote them
  // (the source's from when the fixture was recorded). Long data and the reset are not sent on their
  // own: the values are in the executions.
  const statements = (lines: string[][]) =>
    lines.filter(([c]) => c === "Prepare" || c === "Execute").map(([c, a]) => `${c}: ${a}`);
  const source = JSON.parse(readFileSync(fixture("long-data.general-log.json"), "utf8")) as string[][];
  const log = await db.query<{ command_type: string; arg: string }>(
    "SELECT command_type, HEX(argument) AS arg FROM mysql.general_log",
  );
  const target = log.map((l) => [l.command_type, textOrHex(Buffer.from(l.arg, "hex"))]);
  assert.equal(statements(source).length, 6);
  assert.deepEqual(statements(target), statements(source));

  const rows = await db.query<{ id: number; doc: string; bin: string | null; note: string }>(
    "SELECT id, doc, HEX(bin) AS bin, note FROM sluice_capture.ld ORDER BY id",
  );
  assert.deepEqual(
    rows.map((r) => ({ ...r })),
    ROWS.map((r) => ({ ...r, bin: r.bin === null ? null : r.bin.toString("hex").toUpperCase() })),
  );
});
