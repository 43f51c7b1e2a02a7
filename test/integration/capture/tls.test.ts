import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import mysql from "mysql2/promise";
import { CaptureDecoder } from "../../../src/capture/decoder.ts";
import type { ConnectEvent, SessionEvent } from "../../../src/capture/events.ts";
import { LiveCapture } from "../../../src/capture/live.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";

// A real TLS session next to a plain one, captured live: the TLS one is reported, counted and
// skipped; the plain one decodes.
const missing = ["tcpdump", "openssl"].filter((t) => spawnSync("which", [t]).status !== 0);
const skip = missing.length > 0 ? `missing ${missing.join(", ")}` : false;
let server: MariadbSandbox;
let dir: string;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "sluice-capture-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  server = await startMariadb({
    extraArgs: [`--ssl-cert=${join(dir, "cert.pem")}`, `--ssl-key=${join(dir, "key.pem")}`],
  });
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a TLS session is detected, counted and skipped; a plain session beside it decodes", {
  skip,
}, async () => {
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e), { serverPorts: [server.port] });
  const live = new LiveCapture({ interface: "lo", filter: `tcp port ${server.port}`, immediate: true }, (f) =>
    decoder.frame(f),
  );
  await live.ready;
  const secure = await mysql.createConnection({
    host: "127.0.0.1",
    port: server.port,
    user: "root",
    ssl: { rejectUnauthorized: false },
  });
  const [cipher] = await secure.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  await secure.query("SELECT 'secret'");
  await secure.end();
  const plain = await mysql.createConnection({ host: "127.0.0.1", port: server.port, user: "root" });
  await plain.query("SELECT 'in the clear'");
  await plain.end();
  await live.stop();
  decoder.finish();

  assert.notEqual((cipher as { Value: string }[])[0]?.Value, "", "the first connection really used TLS");
  assert.equal(decoder.stats.tlsSessions, 1);
  assert.equal(decoder.stats.decodeErrors, 0);
  const connects = events.filter((e): e is ConnectEvent => e.type === "connect");
  assert.deepEqual(
    connects.map((c) => c.tls),
    [true, false],
  );
  const tlsSession = connects[0]!.session;
  assert.ok(!events.some((e) => e.type === "command" && e.session === tlsSession));
  assert.ok(events.some((e) => e.type === "close" && e.session === tlsSession));
  assert.ok(events.some((e) => e.type === "command" && e.sql === "SELECT 'in the clear'"));
  assert.ok(!events.some((e) => e.type === "command" && e.sql?.includes("secret")));
});
