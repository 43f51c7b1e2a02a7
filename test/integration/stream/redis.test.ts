import { after } from "node:test";
import { Redis } from "ioredis";
import { streamLogConformance } from "./conformance.ts";

// The local Redis (scripts/run.sh starts it) is shared: every key of this run is under its own prefix,
// and whatever the tests leave is removed at the end. Port 1 is never listening.
const prefix = `sluice-test-${process.pid}-${Date.now().toString(36)}`;
after(async () => {
  const redis = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true });
  await redis.connect();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
  await redis.quit();
});

streamLogConformance({
  name: "redis",
  url: `redis://127.0.0.1:6379?prefix=${prefix}`,
  unreachable: { url: "redis://user:s3cret@127.0.0.1:1/x", code: "STREAM_UNREACHABLE" },
});
