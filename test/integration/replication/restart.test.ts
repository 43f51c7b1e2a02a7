import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { openBinlogStream } from "../../../src/sources/replication/stream.ts";
import { gtidsOf, isMadeUp, listed, relay, showBinlogEvents } from "./helpers.ts";

const baseDir = mkdtempSync(join(tmpdir(), "sluice-restart-"));
let sb: MariadbSandbox | undefined;

after(async () => {
  await sb?.stop();
  rmSync(baseDir, { recursive: true, force: true });
});

test("a server restart: the stream waits, reconnects and goes on where it was, nothing lost or doubled", async () => {
  sb = await startMariadb({ name: "restart", baseDir, keep: true, serverId: 4242 });
  // An account of our own: the sandbox's replication user gets a new password at every start.
  await sb.query("CREATE USER 'rs'@'127.0.0.1' IDENTIFIED BY 'rs-pw'"); // GTID 1
  await sb.query("GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'rs'@'127.0.0.1'"); // 2
  await sb.query("CREATE DATABASE d");
  await sb.query("CREATE TABLE d.t (id INT PRIMARY KEY)");
  await sb.query("INSERT INTO d.t VALUES (1)");
  const url = `mysql://rs:rs-pw@127.0.0.1:${sb.port}`;
  // The restarted server gets another port; the relay keeps the stream's URL the same.
  const r = await relay(sb.port);
  const stream = openBinlogStream(r.url(url), {
    start: "earliest",
    heartbeatSeconds: 1,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
  });
  const seen: BinlogEvent[] = [];
  let restarted = false;
  let reconnects = 0;
  stream.on("reconnecting", () => reconnects++);
  try {
    for await (const ev of stream) {
      if (isMadeUp(ev)) continue;
      seen.push(ev);
      if (ev.type === "xid" && !restarted) {
        // Once the first row transaction is in: restart the server under the stream.
        restarted = true;
        await sb.stop();
        sb = await startMariadb({ name: "restart", baseDir, keep: true, serverId: 4242 });
        r.retarget(sb.port);
        await sb.query("INSERT INTO d.t VALUES (2)");
      } else if (ev.type === "xid") break;
    }
  } finally {
    await stream.close();
    r.close();
  }
  assert.ok(reconnects >= 1);
  // The restart opened a new binlog file; the stream read the rest of the old one and went on.
  const expected = await showBinlogEvents(sb);
  const got = seen.map(listed);
  assert.deepEqual(got, expected.slice(0, got.length));
  assert.equal(new Set(got.map((e) => e.at)).size, got.length);
  assert.deepEqual(
    gtidsOf(seen),
    [1, 2, 3, 4, 5, 6].map((n) => `0-${sb!.serverId}-${n}`),
  );
});
