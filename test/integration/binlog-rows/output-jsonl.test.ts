// The direct JSON line writer against the reference path, JSON.stringify(eventToJson(ev)), on a
// binlog a sandboxed MariaDB writes with every column type of the catalogue and its edge values
// (inserts, updates, deletes; FULL metadata, so columns have names).
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventToJsonLine } from "../../../src/codecs/binlog/jsonl-writer.ts";
import { eventToJson } from "../../../src/codecs/binlog/output.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";
import { binlogFiles, createTableSql, insertSql, ROWS, updateSql, useSandbox } from "./harness.ts";

const env = useSandbox({ binlogRowMetadata: "FULL", binlogRowImage: "FULL" });

test("every event of a binlog with every column type: the line is the reference line, byte for byte", async () => {
  await env.conn.query(createTableSql("t_out"));
  for (let id = 1; id <= ROWS; id++) await env.conn.query(insertSql("t_out", id, id - 1));
  for (let id = 1; id <= ROWS; id++) await env.conn.query(updateSql("t_out", id, id % ROWS));
  await env.conn.query("DELETE FROM t_out");
  await env.conn.query("FLUSH BINARY LOGS");

  const kinds = new Set<string>();
  let events = 0;
  for await (const ev of readBinlogFiles({ files: binlogFiles(env.sandbox.binlogDir) })) {
    const line = eventToJsonLine(ev);
    assert.equal(line, JSON.stringify(eventToJson(ev)), `${ev.position.file} at ${ev.position.offset}`);
    if ("rows" in ev && ev.rows?.table.table === "t_out") kinds.add(ev.rows.kind);
    events++;
  }
  assert.deepEqual([...kinds].sort(), ["delete", "update", "write"]);
  assert.ok(events > 3 * ROWS);
});
