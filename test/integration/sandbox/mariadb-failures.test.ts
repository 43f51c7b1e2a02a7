import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

test("a bad server flag fails the start with the error log's tail, and leaves nothing behind", async () => {
  const base = mkdtempSync(join(tmpdir(), "sluice-sandbox-fail-test-"));
  try {
    await assert.rejects(
      startMariadb({ baseDir: base, name: "bad", extraArgs: ["--no-such-server-flag=1"] }),
      (e: unknown) => {
        const err = e as { code: string; hint: string };
        assert.equal(err.code, "SANDBOX_START_FAILED");
        assert.match(err.hint, /no-such-server-flag/);
        return true;
      },
    );
    assert.deepEqual(readdirSync(base), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("a fixed port that is taken is a clear error", async () => {
  const first = await startMariadb();
  try {
    await assert.rejects(startMariadb({ port: first.port }), (e: unknown) => {
      const err = e as { code: string; message: string };
      assert.equal(err.code, "SANDBOX_START_FAILED");
      assert.match(err.message, new RegExp(`port ${first.port} on 127.0.0.1 is in use`));
      return true;
    });
  } finally {
    await first.stop();
  }
});

test("a missing mariadbd says what to install", async () => {
  const saved = process.env.SLUICE_MARIADBD;
  process.env.SLUICE_MARIADBD = "/nonexistent/mariadbd";
  try {
    await assert.rejects(startMariadb(), (e: unknown) => {
      const err = e as { code: string; message: string; hint: string };
      assert.equal(err.code, "SANDBOX_BINARY_NOT_FOUND");
      assert.match(err.message, /mariadbd not found/);
      assert.match(err.hint, /apt-get install mariadb-server/);
      return true;
    });
  } finally {
    if (saved === undefined) delete process.env.SLUICE_MARIADBD;
    else process.env.SLUICE_MARIADBD = saved;
  }
});

test("keep leaves the datadir, and starting the same name again finds its data", async () => {
  const base = mkdtempSync(join(tmpdir(), "sluice-sandbox-keep-test-"));
  let again: MariadbSandbox | undefined;
  try {
    const first = await startMariadb({ baseDir: base, name: "kept", keep: true });
    await first.query("CREATE DATABASE kept_db");
    await first.query("CREATE TABLE kept_db.t (id INT PRIMARY KEY)");
    await first.query("INSERT INTO kept_db.t VALUES (1), (2), (3)");
    await first.stop();
    assert.ok(existsSync(first.datadir));
    again = await startMariadb({ baseDir: base, name: "kept" });
    const rows = await again.query<{ n: number }>("SELECT COUNT(*) AS n FROM kept_db.t");
    assert.equal(Number(rows[0]?.n), 3);
    await again.stop();
    assert.equal(existsSync(again.datadir), false);
  } finally {
    await again?.stop();
    rmSync(base, { recursive: true, force: true });
  }
});
