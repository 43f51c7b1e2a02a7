// A producer process for the kill-and-restart tests: appends sequence numbers [start, end) in `block`
// mode, `batch` per append, and prints `acked N` once the record with sequence N is durable.
import { openStreamLog } from "../../../src/stream/index.ts";

const [url = "", stream = "", startArg = "0", endArg = "0", batchArg = "10"] = process.argv.slice(2);
const start = Number(startArg);
const end = Number(endArg);
const batch = Number(batchArg);
const log = await openStreamLog(url);
const producer = await log.producer(stream, { policy: "block" });
for (let seq = start; seq < end; seq += batch) {
  const records = [];
  for (let s = seq; s < Math.min(end, seq + batch); s++)
    records.push({ key: `k${s % 4}`, value: Buffer.from(JSON.stringify({ seq: s })), timestamp: Date.now() });
  await producer.append(records);
  process.stdout.write(`acked ${seq + records.length - 1}\n`);
}
await log.close();
process.stdout.write("done\n");
