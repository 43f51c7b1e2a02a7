import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { streamLogConformance } from "./conformance.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-stream-"));
after(() => rmSync(dir, { recursive: true, force: true }));

streamLogConformance({
  name: "sqlite",
  url: `file:${join(dir, "log.db")}`,
  // A path under a regular file can never be created.
  unreachable: { url: `file:${join(dir, "log.db", "nested", "x.db")}`, code: "STREAM_OPEN_FAILED" },
});
