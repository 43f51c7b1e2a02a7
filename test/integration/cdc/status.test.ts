import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CheckpointStore } from "../../../src/cdc/checkpoint.ts";

// `sluice cdc status` against a checkpoint store alone: the lag rule with open ranges, --max-lag's
// exit code and the webhook alert (a local HTTP server records what it receives).

const dir = mkdtempSync(join(tmpdir(), "sluice-cdc-status-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, SLUICE_FROM_SOURCE: "1", SLUICE_LOG_LEVEL: "warn" };

function sluice(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ["bin/sluice.js", ...args], { env });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    c.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    c.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("status: the oldest open range decides the lag; --max-lag exits 3 and calls the webhook", async () => {
  const store = `file:${join(dir, "cp.db")}`;
  const now = Math.floor(Date.now() / 1000);
  const cp = await CheckpointStore.open(store);
  await cp.addRanges(
    "p",
    [
      {
        startFile: "bin.000001",
        startOffset: 4,
        endFile: "bin.000001",
        endOffset: 900,
        currentTime: now - 7200,
        eventsTotal: 10,
      },
      {
        startFile: "bin.000001",
        startOffset: 900,
        endFile: "bin.000002",
        endOffset: 300,
        currentTime: now - 60,
        eventsTotal: 20,
      },
    ],
    { file: "bin.000002", offset: 300, gtid: null, timestamp: now, processedTime: now },
  );
  await cp.close();

  const received: unknown[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      received.push(JSON.parse(body));
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    const late = await sluice([
      "cdc",
      "status",
      "--store",
      store,
      "--name",
      "p",
      "--max-lag",
      "5m",
      "--webhook",
      `http://127.0.0.1:${port}/alert`,
      "--json",
    ]);
    assert.equal(late.code, 3, late.stderr);
    const s = JSON.parse(late.stdout) as { lagSeconds: number; openRanges: unknown[]; lagExceeded: boolean };
    assert.ok(s.lagSeconds >= 7200);
    assert.equal(s.openRanges.length, 2);
    assert.equal(received.length, 1);
    assert.equal((received[0] as { alert: string }).alert, "sluice cdc lag exceeded");

    const fine = await sluice([
      "cdc",
      "status",
      "--store",
      store,
      "--name",
      "p",
      "--max-lag",
      "3h",
      "--webhook",
      `http://127.0.0.1:${port}/alert`,
    ]);
    assert.equal(fine.code, 0, fine.stderr);
    assert.match(fine.stdout, /open ranges\s+2/);
    assert.equal(received.length, 1);
  } finally {
    server.close();
  }
});
