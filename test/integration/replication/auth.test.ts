import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { type MariadbSandbox, startMariadb } from "../../../src/sandbox/index.ts";
import { collect } from "./helpers.ts";

let sb: MariadbSandbox;
let certs: string;

/** A throwaway CA and a server certificate for 127.0.0.1. */
function makeCertificates(dir: string): void {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=sluice test CA",
  );
  run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
}

before(async () => {
  certs = mkdtempSync(join(tmpdir(), "sluice-tls-"));
  makeCertificates(certs);
  sb = await startMariadb({
    extraArgs: [
      `--ssl-ca=${join(certs, "ca.pem")}`,
      `--ssl-cert=${join(certs, "server.pem")}`,
      `--ssl-key=${join(certs, "server.key")}`,
    ],
  });
  await sb.query("INSTALL SONAME 'auth_ed25519'");
  await sb.query("CREATE USER 'edrepl'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('ed s3cret ü')");
  await sb.query("CREATE USER 'tlsrepl'@'127.0.0.1' IDENTIFIED BY 'tls-pw' REQUIRE SSL");
  await sb.query(
    "GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'edrepl'@'127.0.0.1', 'tlsrepl'@'127.0.0.1'",
  );
  await sb.query("CREATE DATABASE d");
});

after(async () => {
  await sb?.stop();
  rmSync(certs, { recursive: true, force: true });
});

test("a wrong password is a clear error naming user@host:port, with errno and SQLSTATE, never the password", async () => {
  const url = sb.replicationUrl.replace(/:([^:@/]+)@/, ":not-the-Pa55word@");
  await assert.rejects(collect(url, { start: "earliest", stop: "head" }), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "MYSQL_ACCESS_DENIED");
    assert.match(e.message, new RegExp(`repl@127\\.0\\.0\\.1:${sb.port}`));
    assert.equal(e.context.errno, 1045);
    assert.equal(e.context.sqlState, "28000");
    assert.match(e.hint ?? "", /password/);
    assert.doesNotMatch(e.describe(), /not-the-Pa55word/);
    return true;
  });
});

test("MariaDB ed25519 authentication (auth switch to client_ed25519)", async () => {
  const got = await collect(`mysql://edrepl:${encodeURIComponent("ed s3cret ü")}@127.0.0.1:${sb.port}`, {
    start: "earliest",
    stop: "head",
  });
  assert.ok(got.some((e) => e.type === "query"));
  await assert.rejects(
    collect(`mysql://edrepl:wrong@127.0.0.1:${sb.port}`, { start: "earliest", stop: "head" }),
    /access denied/,
  );
});

test("TLS: verified against the CA; REQUIRE SSL accounts work only over it", async () => {
  const base = `mysql://tlsrepl:tls-pw@127.0.0.1:${sb.port}`;
  const got = await collect(`${base}?ssl=true&sslCa=${encodeURIComponent(join(certs, "ca.pem"))}`, {
    start: "earliest",
    stop: "head",
  });
  assert.ok(got.some((e) => e.type === "query"));
  await assert.rejects(collect(base, { start: "earliest", stop: "head" }), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "MYSQL_ACCESS_DENIED");
    return true;
  });
  // Without the CA the self-signed chain does not verify.
  await assert.rejects(collect(`${base}?ssl=true`, { start: "earliest", stop: "head" }), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.code, "MYSQL_TLS_FAILED");
    return true;
  });
  const insecure = await collect(`${base}?ssl=true&sslVerify=false`, { start: "earliest", stop: "head" });
  assert.equal(insecure.length, got.length);
});
