import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { streamLogConformance } from "./conformance.ts";
import { checkRetentionByAge } from "./shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-stream-"));
after(() => rmSync(dir, { recursive: true, force: true }));

streamLogConformance({
  name: "sqlite",
  url: `file:${join(dir, "log.db")}`,
  // A path under a regular file can never be created.
  unreachable: { url: `file:${join(dir, "log.db", "nested", "x.db")}`, code: "STREAM_OPEN_FAILED" },
});

test("sqlite: retention by age deletes what was appended before the limit, keeping offsets", () =>
  // Retention runs at most once a second while appending.
  checkRetentionByAge(`file:${join(dir, "age.db")}`));
