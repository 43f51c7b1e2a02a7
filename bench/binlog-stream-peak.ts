/**
 * Child process of bench/binlog-stream.ts: streams URL from START to the head with the replication
 * client, decoding every row, and prints {events, rows, seconds, maxRssMiB} as JSON. Alone in its
 * process so that its peak RSS is the stream's own.
 */
import { openBinlogStream } from "../src/sources/replication/stream.ts";

const [url, start] = process.argv.slice(2);
if (!url || !start) {
  console.error("usage: binlog-stream-peak.ts URL START");
  process.exit(2);
}
const t0 = performance.now();
let events = 0;
let rows = 0;
for await (const ev of openBinlogStream(url, { start, stop: "head", heartbeatSeconds: 0 })) {
  events++;
  if ("rows" in ev && ev.rows && typeof ev.rows === "object" && "rows" in ev.rows)
    rows += ev.rows.rows.length;
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ events, rows, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
