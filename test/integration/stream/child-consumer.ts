// A consumer process for the kill-and-restart tests: reads as group `group`, appends `run offset seq`
// lines to `out` for each record, then commits the batch's last offset and prints `committed N`.
// Exits after it has processed the record at offset `last`.
import { appendFileSync } from "node:fs";
import { openStreamLog } from "../../../src/stream/index.ts";

const [url = "", stream = "", group = "", out = "", run = "", lastArg = "0", batchArg = "50"] =
  process.argv.slice(2);
const last = Number(lastArg);
const log = await openStreamLog(url);
const consumer = await log.consumer(stream, group, { prefetch: 200 });
process.stdout.write(`start ${(await consumer.committed()) ?? -1}\n`);
for (;;) {
  const recs = await consumer.read({ max: Number(batchArg), waitMs: 1000 });
  if (recs.length === 0) continue;
  const lines = recs.map(
    (r) => `${run} ${r.offset} ${(JSON.parse(Buffer.from(r.value).toString()) as { seq: number }).seq}\n`,
  );
  appendFileSync(out, lines.join(""));
  const top = recs.at(-1)!.offset;
  await consumer.commit(top);
  process.stdout.write(`committed ${top}\n`);
  if (top >= last) break;
  // Leave the parent time to kill this process between batches and within one.
  await new Promise((r) => setTimeout(r, 5));
}
await log.close();
process.stdout.write("done\n");
