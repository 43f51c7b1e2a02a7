// A binlog written with MariaDB encrypt_binlog=ON (file_key_management): Sluice reads the format
// description and the START_ENCRYPTION event, then stops with BINLOG_ENCRYPTED naming where the
// encrypted part begins - never garbage, never a crash.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { BinlogEvent } from "../../../src/codecs/binlog/events.ts";
import { SluiceError } from "../../../src/core/errors.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { readBinlogFiles } from "../../../src/sources/binlog-file.ts";

let sandbox: MariadbSandbox;
let keyDir: string;

before(async () => {
  keyDir = mkdtempSync(join(tmpdir(), "sluice-keys-"));
  const keys = join(keyDir, "keys.txt");
  writeFileSync(keys, `1;${"a1".repeat(32)}\n`);
  sandbox = await startMariadb({
    extraArgs: [
      "--plugin-load-add=file_key_management",
      `--file-key-management-filename=${keys}`,
      "--encrypt-binlog=ON",
    ],
  });
});

after(async () => {
  await sandbox?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

test("an encrypted binlog: START_ENCRYPTION is passed on, then BINLOG_ENCRYPTED with file and offset", async () => {
  await sandbox.query("FLUSH BINARY LOGS");
  const [st] = await sandbox.query<{ File: string }>("SHOW MASTER STATUS");
  await sandbox.query("CREATE DATABASE secret_stuff");
  await sandbox.query("FLUSH BINARY LOGS");
  const events: BinlogEvent[] = [];
  let error: unknown;
  try {
    for await (const ev of readBinlogFiles({ files: [join(sandbox.binlogDir, st!.File)] })) events.push(ev);
  } catch (e) {
    error = e;
  }
  assert.deepEqual(
    events.map((e) => e.type),
    ["format_description", "mariadb_start_encryption"],
  );
  const enc = events[1]!;
  assert.ok(enc.type === "mariadb_start_encryption" && enc.keyVersion === 1 && enc.nonce.length === 12);
  assert.ok(error instanceof SluiceError);
  assert.equal(error.code, "BINLOG_ENCRYPTED");
  assert.equal(error.context.file, st!.File);
  assert.equal(error.context.offset, enc.position.next);
});
