import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type BinlogEventRow, partitionRange, type ShowBinlogEvents } from "../../../src/cdc/partition.ts";

/** A binlog as SHOW BINLOG EVENTS lists it: files of transactions (GTID + n events), each file led by a format description. */
function fakeBinlog(files: number[][]): { show: ShowBinlogEvents; all: BinlogEventRow[]; queries: number[] } {
  const all: BinlogEventRow[] = [];
  files.forEach((txs, i) => {
    const name = `bin.00000${i + 1}`;
    let pos = 4;
    const add = (type: string) => {
      all.push({ Log_name: name, Pos: pos, Event_type: type, End_log_pos: pos + 10 });
      pos += 10;
    };
    add("Format_desc");
    for (const size of txs) {
      add("Gtid");
      for (let e = 0; e < size; e++) add("Write_rows_v1");
      add("Xid");
    }
    add("Rotate");
  });
  const queries: number[] = [];
  const show: ShowBinlogEvents = async (file, pos, skip, count) => {
    const inFile = all.filter((r) => r.Log_name === file);
    // The end of a file is a valid FROM (an empty answer); anything else must be an event start.
    const idx = pos === inFile.at(-1)!.End_log_pos ? inFile.length : inFile.findIndex((r) => r.Pos === pos);
    if (idx < 0) throw new Error(`not an event start: ${file}:${pos}`);
    const out = inFile.slice(idx + skip, idx + skip + count);
    queries.push(out.length);
    return out;
  };
  return { show, all, queries };
}

test("ranges cut at GTIDs, cover start..head without gaps, count every event exactly", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 25 }), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 8 }),
      async (files, rangeEvents, window) => {
        const { show, all } = fakeBinlog(files);
        const names = [...new Set(all.map((r) => r.Log_name))];
        const lastFile = names.at(-1)!;
        const lastRow = all.filter((r) => r.Log_name === lastFile).at(-1)!;
        const head = { file: lastFile, offset: lastRow.End_log_pos };
        const start = { file: names[0]!, offset: 4 };
        const ranges = await partitionRange(show, { start, head, files: names, rangeEvents, window });
        // Contiguous from start to head.
        let at = start;
        for (const r of ranges) {
          assert.deepEqual({ file: r.startFile, offset: r.startOffset }, at);
          at = { file: r.endFile, offset: r.endOffset };
        }
        assert.deepEqual(at, head);
        // Every inner cut is a GTID event.
        for (const r of ranges.slice(0, -1)) {
          const ev = all.find((e) => e.Log_name === r.endFile && e.Pos === r.endOffset);
          assert.equal(ev?.Event_type, "Gtid");
        }
        assert.equal(
          ranges.reduce((a, r) => a + r.events, 0),
          all.length,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test("a head in the middle of a file: events after it are neither cut at nor counted", async () => {
  const { show, all } = fakeBinlog([[3, 3, 3, 3]]);
  const gtids = all.filter((r) => r.Event_type === "Gtid");
  const head = { file: "bin.000001", offset: gtids[2]!.Pos };
  const ranges = await partitionRange(show, {
    start: { file: "bin.000001", offset: 4 },
    head,
    files: ["bin.000001"],
    rangeEvents: 2,
  });
  assert.deepEqual(ranges.at(-1)!.endOffset, head.offset);
  assert.equal(
    ranges.reduce((a, r) => a + r.events, 0),
    all.filter((r) => r.Pos < head.offset).length,
  );
  assert.deepEqual(await partitionRange(show, { start: head, head, files: ["bin.000001"] }), []);
});

test("only the window after each jump crosses the wire", async () => {
  const { show, queries } = fakeBinlog([Array(200).fill(8)]);
  await partitionRange(show, {
    start: { file: "bin.000001", offset: 4 },
    head: { file: "bin.000001", offset: 20_054 },
    files: ["bin.000001"],
    rangeEvents: 100,
    window: 20,
  });
  assert.ok(queries.every((n) => n <= 100));
});
