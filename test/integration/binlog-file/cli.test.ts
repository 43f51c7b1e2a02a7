// `sluice binlog read` as a user runs it: exit codes, output lines, errors with file and offset.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../../../../shared/fixtures/binlog/", import.meta.url));

function sluice(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/sluice.js", ...args], {
    cwd: ROOT,
    env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("jsonl: one object per event with the contract's envelope", () => {
  const r = sluice("binlog", "read", `${FIXTURES}mariadb-bin.000001`);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 13);
  for (const l of lines) {
    assert.equal(typeof l.type, "string");
    assert.deepEqual(Object.keys(l.position as object), ["file", "offset", "next"]);
    assert.equal(typeof l.timestamp, "number");
    assert.equal(l.serverId, 1);
  }
  const rows = lines.find((l) => l.type === "write_rows_v1")!;
  assert.equal(rows.gtid, "0-1-1");
  assert.equal(rows.schema, "toddy_test");
  assert.equal(rows.table, "outbox");
  assert.deepEqual((rows.rows as Array<{ after: Record<string, unknown> }>)[0]!.after.id, 62);
});

test("text format is readable and names positions", () => {
  const r = sluice("binlog", "read", "--format", "text", `${FIXTURES}transaction_compression.000001`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /# at 274 transaction_compression\.000001\n.*transaction_payload\nzstd 124 -> 179 bytes, 4 events/,
  );
  assert.match(r.stdout, /# at 274 \(\+116 in payload\)/);
  assert.match(r.stdout, /INSERT INTO `test`.`tb1`/);
});

test("a damaged file: everything before the damage is printed, then the error with file and offset, exit 1", () => {
  const r = sluice("binlog", "read", `${FIXTURES}corrupt-relay-bin.000624`);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]!) as { position: { next: number } };
  assert.equal(last.position.next, 91204);
  assert.match(r.stderr, /BINLOG_BAD_EVENT/);
  assert.match(r.stderr, /file=corrupt-relay-bin\.000624 offset=91204/);
  const j = sluice("binlog", "read", "--json-errors", `${FIXTURES}binlog_truncated_prev_gtid_event.000001`);
  assert.equal(j.code, 1);
  const err = JSON.parse(j.stderr.trim()) as { error: { code: string; context: Record<string, unknown> } };
  assert.equal(err.error.code, "BINLOG_TRUNCATED");
  assert.deepEqual(err.error.context, { file: "binlog_truncated_prev_gtid_event.000001", offset: 120 });
});

test("start/stop positions and several files", () => {
  const r = sluice(
    "binlog",
    "read",
    "--start-position",
    "702",
    `${FIXTURES}mariadb-bin.000001`,
    `${FIXTURES}transaction_compression.000001`,
    "--stop-position",
    "274",
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; position: { file: string; offset: number } });
  assert.equal(lines[0]!.position.offset, 702);
  const last = lines[lines.length - 1]!;
  assert.equal(last.position.file, "transaction_compression.000001");
  assert.equal(last.type, "anonymous_gtid");
});

test("usage errors exit 2; a missing file exits 1 naming it", () => {
  assert.equal(sluice("binlog", "read", "--format", "xml", `${FIXTURES}mariadb-bin.000001`).code, 2);
  const m = sluice("binlog", "read", "/nonexistent/mariadb-bin.000001");
  assert.equal(m.code, 1);
  assert.match(m.stderr, /BINLOG_OPEN.*nonexistent/);
});

test("--follow prints events as the file grows and exits 0 on SIGINT", { timeout: 60_000 }, async () => {
  const { spawn } = await import("node:child_process");
  const { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "sluice-cli-follow-"));
  let stop = () => {};
  try {
    const bytes = readFileSync(`${FIXTURES}mariadb-bin.000001`);
    const file = join(dir, "mariadb-bin.000001");
    writeFileSync(file, bytes.subarray(0, 400));
    const child = spawn(process.execPath, ["bin/sluice.js", "binlog", "read", "--follow", file], {
      cwd: ROOT,
      env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
    });
    stop = () => child.kill("SIGKILL");
    let out = "";
    const seen = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (out.split("\n").filter(Boolean).length >= n) resolve();
          else setTimeout(check, 20);
        };
        check();
      });
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await seen(4); // up to the GTID event; the annotate event at 372 is cut
    appendFileSync(file, bytes.subarray(400));
    await seen(13);
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { position: { offset: number } });
    assert.equal(lines.length, 13);
    assert.equal(lines[12]!.position.offset, 1043);
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
