import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { collect } from "./helpers.ts";

let sb: MariadbSandbox;
const SIZE = 40 * 1024 * 1024; // one row: its rows event spans three 16 MiB protocol packets

before(async () => {
  sb = await startMariadb({ extraArgs: ["--max-allowed-packet=256M"] });
  await sb.query("CREATE DATABASE d");
  await sb.query("CREATE TABLE d.t (id INT PRIMARY KEY, b LONGBLOB)");
  await sb.query(`INSERT INTO d.t VALUES (1, REPEAT(CONCAT('0123456789abcdef', CHAR(0)), ${SIZE / 17}))`);
});

after(async () => {
  await sb?.stop();
});

test("an event larger than a protocol packet (multi-packet) arrives whole and decodes exactly", async () => {
  const got = await collect(sb.replicationUrl, { start: "earliest", stop: "head" });
  const rows = got.find((e) => e.type === "write_rows_v1");
  assert.ok(rows);
  assert.ok(rows.position.next - rows.position.offset > 2 * 0xffffff);
  const value = (rows as unknown as { rows: { rows: { after: unknown[] }[] } }).rows.rows[0]!
    .after[1] as Buffer;
  const [expected] = await sb.query<{ h: string; n: number }>(
    "SELECT SHA2(b, 256) AS h, LENGTH(b) AS n FROM d.t",
  );
  assert.equal(value.length, expected!.n);
  assert.equal(createHash("sha256").update(value).digest("hex"), expected!.h);
});
