import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { journalStreams, ReplayJournal } from "../../../src/replay/source.ts";
import { openStreamLog, type StreamLog } from "../../../src/stream/index.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-journal-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Each command written on its own (maxCommands 1), never on the timer. */
const EACH = { intervalMs: 3_600_000, maxCommands: 1 };

/** The journal streams in the log and how many records each holds. */
async function journalRecords(log: StreamLog): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of journalStreams("capture", "g"))
    if ((await log.streams()).includes(name)) out[name] = (await log.read(name, 0, { max: 1000 })).length;
  return out;
}

test("the replay journal alternates between two streams on a real SQLite stream log: the older one is deleted once the committed position is past it, and a journal opened again after a crash knows every offset above the committed position", async () => {
  const log = await openStreamLog(`file:${join(dir, "journal.db")}`);
  const [a, b] = journalStreams("capture", "g");
  let committed = -1;
  const journal = await ReplayJournal.open(log, "capture", "g", committed, EACH, () => committed, 3);
  const record = async (...offsets: number[]) => {
    for (const o of offsets) await journal.record(o);
  };
  await record(0, 1, 2);
  // Full (3 records): the next ones go to the other stream; the first is kept (nothing is committed).
  assert.deepEqual(await journalRecords(log), { [a]: 3, [b]: 0 });
  await record(3, 4, 5, 6);
  // The first still holds offsets above the committed position: the second goes on past 3 records.
  assert.deepEqual(await journalRecords(log), { [a]: 3, [b]: 4 });
  committed = 2;
  await record(7);
  // The first stream's offsets are all committed: deleted; the second, full, hands over to a new first.
  assert.deepEqual(await journalRecords(log), { [a]: 0, [b]: 5 });
  assert.deepEqual(journal.streams, [a, b]);

  // A crash here (nothing closed), the committed position at 4: the offsets above it are known, the
  // empty stream is deleted, and writing goes on in the other one.
  const again = await ReplayJournal.open(log, "capture", "g", 4, EACH, () => committed, 3);
  assert.deepEqual(
    [...again.done].sort((x, y) => x - y),
    [5, 6, 7],
  );
  assert.deepEqual(await journalRecords(log), { [b]: 5 });
  committed = 7;
  await again.record(8);
  assert.deepEqual(await journalRecords(log), { [a]: 0, [b]: 6 });
  committed = 8;
  await again.record(9);
  // Everything in the second is committed now: only the one written to is left.
  assert.deepEqual(await journalRecords(log), { [a]: 1 });
  await again.clear();
  assert.deepEqual(await journalRecords(log), {});
  await journal.close();
  await log.close();
});
