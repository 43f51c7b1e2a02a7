// --follow on files being written: bytes arriving in pieces (an event cut in two), then a ROTATE
// that names the next file, which appears later in the same directory.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";

const FIXTURES = fileURLToPath(new URL("../../../../shared/fixtures/binlog/", import.meta.url));

test("follow: waits inside a cut event, follows ROTATE to the next file, stops on abort", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-follow-"));
  try {
    // transaction_compression.000001 ends with ROTATE to binlog.000043
    const first = readFileSync(`${FIXTURES}transaction_compression.000001`);
    const second = readFileSync(`${FIXTURES}mariadb-bin.000001`);
    const a = join(dir, "binlog.000042");
    writeFileSync(a, first.subarray(0, 300)); // cut inside the transaction payload event at 274
    const controller = new AbortController();
    const seen: BinlogEvent[] = [];
    let appended = false;
    let created = false;
    for await (const ev of readBinlogFiles({
      files: [a],
      follow: true,
      pollIntervalMs: 10,
      signal: controller.signal,
    })) {
      seen.push(ev);
      if (!appended && ev.type === "anonymous_gtid") {
        appended = true;
        setTimeout(() => appendFileSync(a, first.subarray(300)), 50);
      }
      if (!created && ev.type === "rotate") {
        created = true;
        setTimeout(() => writeFileSync(join(dir, "binlog.000043"), second), 50);
      }
      if (ev.position.file === "binlog.000043" && ev.type === "xid" && ev.gtid === "0-1-2")
        controller.abort();
    }
    const files = seen.map((e) => `${e.position.file}:${e.type}`);
    assert.ok(files.includes("binlog.000042:transaction_payload"));
    assert.ok(files.includes("binlog.000042:rotate"));
    assert.equal(files.filter((f) => f.startsWith("binlog.000043")).length, 13);
    // nothing doubled: offsets strictly increase within each file
    for (const file of ["binlog.000042", "binlog.000043"]) {
      const offs = seen
        .filter((e) => e.position.file === file && e.position.payloadOffset === undefined)
        .map((e) => e.position.offset);
      assert.deepEqual(
        offs,
        [...offs].sort((x, y) => x - y),
      );
      assert.equal(new Set(offs).size, offs.length);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("without follow, a cut event at the end is BINLOG_TRUNCATED with file and offset", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-cut-"));
  try {
    const f = join(dir, "binlog.000042");
    writeFileSync(f, readFileSync(`${FIXTURES}transaction_compression.000001`).subarray(0, 300));
    await assert.rejects(
      async () => {
        for await (const _ of readBinlogFiles({ files: [f] })) {
          // drain
        }
      },
      (e: unknown) =>
        (e as { code?: string }).code === "BINLOG_TRUNCATED" &&
        (e as { context: Record<string, unknown> }).context.offset === 274 &&
        (e as { context: Record<string, unknown> }).context.file === "binlog.000042",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
