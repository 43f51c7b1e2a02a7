// `sluice stream append | tail --group | info` on one stream-log URL, run for each adapter.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

export const sluiceStream = (args: string[], input?: string) =>
  spawnSync(process.execPath, ["bin/sluice.js", "stream", ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
  });

/** Appends three lines to `stream`, tails two as group `g`, checks info, then the group resumes. */
export function cliRoundTrip(url: string, stream: string, adapter: string): void {
  const a = sluiceStream(["append", url, "--stream", stream, "--key", "k", "--json"], "alpha\nbeta\ngamma\n");
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(JSON.parse(a.stdout), { appended: 3 });

  const t = sluiceStream(["tail", url, "--stream", stream, "--group", "g", "-n", "2", "--json"]);
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

  const i = sluiceStream(["info", url, "--stream", stream, "--json"]);
  assert.equal(i.status, 0, i.stderr);
  const info = JSON.parse(i.stdout) as {
    adapter: string;
    streams: { partitions: unknown[]; groups: unknown[] }[];
  };
  assert.equal(info.adapter, adapter);
  assert.deepEqual(info.streams[0]?.partitions, [{ partition: 0, first: 0, head: 2 }]);
  assert.deepEqual(info.streams[0]?.groups, [{ group: "g", committed: 1, lag: 1 }]);

  // The group resumes after its commit.
  const again = sluiceStream(["tail", url, "--stream", stream, "--group", "g"]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^2\t\S+\tk\tgamma\n$/);
}
