// FLOAT edge values through a sandboxed MariaDB: the decoded value is the exact single-precision value
// the server returns over the binary protocol (prepared statements), and rounded to 6 significant
// digits it is the text the server returns over the text protocol (docs/binlog-values.md, FLOAT).
import assert from "node:assert/strict";
import { test } from "node:test";
import mysql from "mysql2/promise";
import { cellToJson, formatFloat32 } from "../../../src/codecs/binlog/rows/index.ts";
import { decodeDir, floatText6, useSandbox } from "./harness.ts";

const env = useSandbox({ binlogRowMetadata: "FULL", binlogRowImage: "FULL" });

const EDGES = [
  "3.1415927",
  "0.1",
  "0.3",
  "-1.5",
  "100",
  "1e-38",
  "3.4e38",
  "3.40282e38",
  "-3.40282e38",
  "-0",
  "-0.0",
  "16777217",
  "1234567",
  "12345678",
  "10000000",
  "123456.789",
  "0.000123456789",
  "1.17549435e-38", // FLT_MIN, the smallest normal value
  "1.1754942e-38", // the largest subnormal
  "5e-40",
  "1.4e-45", // the smallest subnormal
];

test("FLOAT: decoded = the binary protocol's value exactly, and the text protocol's value at 6 digits", async () => {
  await env.conn.query("CREATE TABLE tf (id INT PRIMARY KEY, f FLOAT)");
  for (const [i, v] of EDGES.entries()) await env.conn.query(`INSERT INTO tf VALUES (${i + 1}, ${v})`);

  const [textRows] = await env.conn.query("SELECT id, f FROM tf ORDER BY id");
  const text = new Map(
    (textRows as Array<{ id: Buffer; f: Buffer }>).map((r) => [Number(`${r.id}`), `${r.f}`]),
  );
  const u = new URL(env.sandbox.url);
  const bin = await mysql.createConnection({
    host: u.hostname,
    port: Number(u.port),
    user: "root",
    database: "r",
  });
  const binary = new Map<number, number>();
  try {
    const [rows] = await bin.execute("SELECT id, f FROM tf ORDER BY id");
    for (const r of rows as Array<{ id: number; f: number }>) binary.set(r.id, r.f);
  } finally {
    await bin.end();
  }

  const { rows } = await decodeDir(env.sandbox.binlogDir);
  const writes = rows.filter((e) => e.table.table === "tf" && e.kind === "write");
  assert.equal(writes.length, EDGES.length);
  for (const ev of writes) {
    const col = ev.table.columns[1]!;
    for (const row of ev.rows) {
      const id = row.after![0] as number;
      const cell = row.after![1] as number;
      const where = `FLOAT ${EDGES[id - 1]} (id ${id})`;
      const exact = binary.get(id)!;
      assert.ok(Object.is(cell, exact), `${where}: decoded ${cell}, binary protocol ${exact}`);
      // the JSON output: the shortest text naming the same single-precision value
      const out = JSON.parse(JSON.stringify(cellToJson(cell, col))) as number;
      assert.equal(Math.fround(out), exact, `${where}: JSON ${out}`);
      assert.equal(String(out), formatFloat32(cell), where);
      assert.ok(
        String(out)
          .replace(/^-|\.|e.*$/g, "")
          .replace(/^0+/, "").length <= 9,
        `${where}: ${out}`,
      );
      assert.equal(floatText6(out), Number(text.get(id)), `${where}: text protocol ${text.get(id)}`);
    }
  }
});
