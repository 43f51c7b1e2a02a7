import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { cliRoundTrip, sluiceStream } from "./shared.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-stream-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const url = `file:${join(dir, "log.db")}`;

const sluice = sluiceStream;

test("sluice stream append, tail --group and info --json work together", () => {
  cliRoundTrip(url, ["--stream", "s1"], "sqlite");
});

test("sluice stream with a bad URL or a missing stream says what to do", () => {
  const bad = sluice(["info", "nosuch://x"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown stream-log scheme 'nosuch:'.*\n.*hint: supported: file:/);
  const missing = sluice(["tail", url]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /USAGE_STREAM_MISSING.*\n.*--stream NAME/);
});
