import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openStreamLog } from "../../../src/stream/index.ts";
import { rec, streamLogConformance } from "./conformance.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-stream-"));
after(() => rmSync(dir, { recursive: true, force: true }));

streamLogConformance({
  name: "sqlite",
  url: `file:${join(dir, "log.db")}`,
  // A path under a regular file can never be created.
  unreachable: { url: `file:${join(dir, "log.db", "nested", "x.db")}`, code: "STREAM_OPEN_FAILED" },
});

test("sqlite: retention by age deletes what was appended before the limit, keeping offsets", async () => {
  const log = await openStreamLog(`file:${join(dir, "age.db")}`, { retention: { maxAgeMs: 300 } });
  try {
    const p = await log.producer("aged");
    await p.append(Array.from({ length: 50 }, (_, i) => rec("k", i)));
    // Retention runs at most once a second while appending.
    await new Promise((r) => setTimeout(r, 1100));
    await p.append([rec("k", 50)]);
    const info = await log.info("aged");
    assert.deepEqual(info.partitions, [{ partition: 0, first: 50, head: 50 }]);
    assert.deepEqual(info.retention, { maxAgeMs: 300 });
    assert.equal((await log.read("aged", 0, { max: 10 }))[0]?.offset, 50);
  } finally {
    await log.close();
  }
});
