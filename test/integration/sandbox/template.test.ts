import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const script = fileURLToPath(new URL("./make-template.ts", import.meta.url));
const run = promisify(execFile);

test("processes making the template at the same time all get the one complete template", async () => {
  const parent = mkdtempSync(join(tmpdir(), "sluice-template-race-test-"));
  try {
    const env = { ...process.env, SLUICE_SANDBOX_TEMPLATE_DIR: parent };
    // allSettled: every child must be finished before the directory is removed.
    const settled = await Promise.allSettled(
      [1, 2, 3].map(() => run(process.execPath, ["--import", "tsx", script], { env })),
    );
    const results = settled.map((r) => {
      if (r.status === "rejected") assert.fail(`a child failed: ${(r.reason as Error).message}`);
      return r.value;
    });
    const paths = new Set(results.map((r) => r.stdout.trim()));
    assert.equal(paths.size, 1);
    const [template] = [...paths];
    // Only the winner's directory is left: the losers removed their temporary copies.
    assert.deepEqual(readdirSync(parent), [basename(template!)]);
    assert.ok(existsSync(join(template!, "data", "mysql", "global_priv.frm")));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
