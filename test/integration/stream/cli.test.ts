import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

const dir = mkdtempSync(join(tmpdir(), "sluice-stream-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const url = `file:${join(dir, "log.db")}`;

const sluice = (args: string[], input?: string) =>
  spawnSync(process.execPath, ["bin/sluice.js", "stream", ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
  });

test("sluice stream append, tail --group and info --json work together", () => {
  const a = sluice(["append", url, "--stream", "s1", "--key", "k", "--json"], "alpha\nbeta\ngamma\n");
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(JSON.parse(a.stdout), { appended: 3 });

  const t = sluice(["tail", url, "--stream", "s1", "--group", "g", "-n", "2", "--json"]);
  assert.equal(t.status, 0, t.stderr);
  const recs = t.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { offset: number; key: string; value: string });
  assert.deepEqual(
    recs.map((r) => [r.offset, r.key, r.value]),
    [
      [0, "k", "alpha"],
      [1, "k", "beta"],
    ],
  );

  const i = sluice(["info", url, "--stream", "s1", "--json"]);
  assert.equal(i.status, 0, i.stderr);
  const info = JSON.parse(i.stdout) as { streams: { partitions: unknown[]; groups: unknown[] }[] };
  assert.deepEqual(info.streams[0]?.partitions, [{ partition: 0, first: 0, head: 2 }]);
  assert.deepEqual(info.streams[0]?.groups, [{ group: "g", committed: 1, lag: 1 }]);

  // The group resumes after its commit.
  const again = sluice(["tail", url, "--stream", "s1", "--group", "g"]);
  assert.match(again.stdout, /^2\t\S+\tk\tgamma\n$/);
});

test("sluice stream with a bad URL or a missing stream says what to do", () => {
  const bad = sluice(["info", "nosuch://x"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown stream-log scheme 'nosuch:'.*\n.*hint: supported: file:/);
  const missing = sluice(["tail", url]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /USAGE_STREAM_MISSING.*\n.*--stream NAME/);
});
