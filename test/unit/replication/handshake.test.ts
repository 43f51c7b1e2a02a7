import assert from "node:assert/strict";
import { test } from "node:test";
import {
  encodeHandshakeResponse,
  encodeSslRequest,
  parseAuthSwitchRequest,
  parseInitialHandshake,
} from "../../../src/codecs/mysql/handshake.ts";
import { Capability } from "../../../src/codecs/mysql/ok-err.ts";

/** A handshake v10 as a MariaDB 10.11 server sends it (layout per the protocol docs). */
function mariadbHandshake(): Buffer {
  const caps = 0xf7fe | (0x81bf << 16); // CLIENT_MYSQL (bit 0) cleared: MariaDB
  const b = Buffer.alloc(200);
  let p = 0;
  b[p++] = 10;
  p += b.write("5.5.5-10.11.19-MariaDB-0+deb12u1\0", p, "latin1");
  b.writeUInt32LE(42, p);
  p += 4;
  p += b.write("abcdefgh", p, "latin1");
  b[p++] = 0;
  b.writeUInt16LE(caps & 0xffff, p);
  p += 2;
  b[p++] = 45;
  b.writeUInt16LE(2, p);
  p += 2;
  b.writeUInt16LE(caps >>> 16, p);
  p += 2;
  b[p++] = 21;
  p += 6;
  b.writeUInt32LE(0x1d, p); // MariaDB extended capabilities
  p += 4;
  p += b.write("ijklmnopqrst\0", p, "latin1");
  p += b.write("mysql_native_password\0", p, "latin1");
  return b.subarray(0, p);
}

test("initial handshake of a MariaDB server", () => {
  const h = parseInitialHandshake(mariadbHandshake());
  assert.equal(h.serverVersion, "10.11.19-MariaDB-0+deb12u1");
  assert.equal(h.isMariadb, true);
  assert.equal(h.connectionId, 42);
  assert.equal(h.authPluginData.toString("latin1"), "abcdefghijklmnopqrst");
  assert.equal(h.authPluginName, "mysql_native_password");
  assert.equal(h.characterSet, 45);
  assert.equal(h.mariadbCapabilities, 0x1d);
  assert.ok(h.capabilities & Capability.PLUGIN_AUTH);
});

test("a non-MySQL peer is a clear error", () => {
  assert.throws(() => parseInitialHandshake(Buffer.from("HTTP/1.1 400")), /protocol version 72/);
});

test("handshake response layout", () => {
  const caps = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH;
  const r = encodeHandshakeResponse({
    capabilities: caps | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA,
    user: "repl",
    authResponse: Buffer.alloc(20, 0xaa),
    database: undefined,
    authPluginName: "mysql_native_password",
  });
  assert.equal(r.readUInt32LE(0) & Capability.CONNECT_WITH_DB, 0);
  assert.equal(r[8], 45);
  assert.deepEqual(r.subarray(9, 32), Buffer.alloc(23));
  assert.equal(r.toString("latin1", 32, 37), "repl\0");
  assert.equal(r[37], 20);
  assert.deepEqual(r.subarray(38, 58), Buffer.alloc(20, 0xaa));
  assert.equal(r.toString("latin1", 58), "mysql_native_password\0");
  const withDb = encodeHandshakeResponse({
    capabilities: caps,
    user: "u",
    authResponse: Buffer.alloc(0),
    database: "db1",
    authPluginName: "x",
  });
  assert.ok(withDb.readUInt32LE(0) & Capability.CONNECT_WITH_DB);
  assert.equal(withDb.toString("latin1", 32), "u\0\0db1\0x\0");
});

test("SSL request is the 32-byte head with CLIENT_SSL", () => {
  const s = encodeSslRequest(Capability.PROTOCOL_41);
  assert.equal(s.length, 32);
  assert.ok(s.readUInt32LE(0) & Capability.SSL);
});

test("auth switch request", () => {
  const p = Buffer.concat([
    Buffer.from([0xfe]),
    Buffer.from("client_ed25519\0"),
    Buffer.alloc(32, 9),
    Buffer.from([0]),
  ]);
  const sw = parseAuthSwitchRequest(p);
  assert.equal(sw.pluginName, "client_ed25519");
  assert.deepEqual(sw.pluginData, Buffer.alloc(32, 9));
});
