// The local Redis is shared: each test file keeps its keys under a prefix of its own and removes them.
import { after } from "node:test";
import { Redis } from "ioredis";

export const REDIS = "redis://127.0.0.1:6379";

/** A key prefix unique to this process and file; every key under it is deleted after the file's tests. */
export function testPrefix(name: string): string {
  const prefix = `sluice-test-${name}-${process.pid}-${Date.now().toString(36)}`;
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
  return prefix;
}
