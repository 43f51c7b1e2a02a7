import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { configFileSchema } from "../../../src/cli/config-schema.ts";
import { loadConfigFile, mergeOptions } from "../../../src/core/config.ts";
import { SluiceError } from "../../../src/core/errors.ts";
import { parseMysqlUrl, redactUrl } from "../../../src/core/url.ts";

const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));

test("a YAML config file loads and validates", () => {
  const f = join(dir, "ok.yaml");
  writeFileSync(f, "log:\n  format: json\nmetricsPort: 9100\n");
  const c = loadConfigFile(f, configFileSchema);
  assert.equal(c.log?.format, "json");
  assert.equal(c.metricsPort, 9100);
});

test("a bad key is named in the error, with the file", () => {
  const f = join(dir, "bad.yaml");
  writeFileSync(f, "log:\n  format: xml\nmetricsPort: high\nbogus: 1\n");
  assert.throws(
    () => loadConfigFile(f, configFileSchema),
    (e: unknown) =>
      e instanceof SluiceError &&
      e.code === "CONFIG_INVALID" &&
      e.message.includes("log.format") &&
      e.message.includes("metricsPort") &&
      e.message.includes("bogus") &&
      e.context.file === f,
  );
});

test("a JSON syntax error names the file", () => {
  const f = join(dir, "bad.json");
  writeFileSync(f, "{ nope");
  assert.throws(
    () => loadConfigFile(f, configFileSchema),
    (e: unknown) => e instanceof SluiceError && e.code === "CONFIG_SYNTAX",
  );
});

test("flags beat env beat file beat defaults, and only typed flags count", () => {
  const merged = mergeOptions(
    { a: 1, b: 1, c: 1, d: 1 },
    { b: 2, c: 2, d: 2 },
    { c: 3, d: 3 },
    { a: 9, d: 4 },
    new Set(["d"]),
  );
  assert.deepEqual(merged, { a: 1, b: 2, c: 3, d: 4 });
});

test("mysql URLs parse, passwords come from env and never show in redacted form", () => {
  const t = parseMysqlUrl("mysql://repl:s3cret@db.example:3307/shop");
  assert.deepEqual(
    { host: t.host, port: t.port, user: t.user, password: t.password, database: t.database },
    { host: "db.example", port: 3307, user: "repl", password: "s3cret", database: "shop" },
  );
  assert.equal(parseMysqlUrl("mysql://root@127.0.0.1", { SLUICE_MYSQL_PASSWORD: "envpw" }).password, "envpw");
  assert.ok(!redactUrl("mysql://repl:s3cret@db:3306").includes("s3cret"));
  assert.ok(!redactUrl("amqp://guest:guest@127.0.0.1:5672/x").includes(":guest@"));
  assert.throws(() => parseMysqlUrl("http://x"), /unsupported scheme/);
});
