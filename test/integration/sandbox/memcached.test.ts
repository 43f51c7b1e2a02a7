import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { test } from "node:test";
import { startMemcached } from "../../../src/sandbox/index.ts";
import { isAlive } from "../../../src/sandbox/process.ts";

/** Sends text-protocol commands and collects the reply until it ends with `until`. */
function converse(port: number, request: string, until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port });
    let reply = "";
    sock.on("error", reject);
    sock.on("connect", () => sock.write(request));
    sock.on("data", (d) => {
      reply += d.toString("latin1");
      if (reply.endsWith(until)) {
        sock.end();
        resolve(reply);
      }
    });
  });
}

test("memcached sandbox stores and returns a value over TCP, and stops", async () => {
  const [a, b] = await Promise.all([startMemcached(), startMemcached({ memoryMb: 16 })]);
  try {
    assert.notEqual(a.port, b.port);
    assert.equal(a.url, `memcached://127.0.0.1:${a.port}`);
    assert.equal(await converse(a.port, "set greeting 5 0 5\r\nhello\r\n", "\r\n"), "STORED\r\n");
    assert.equal(
      await converse(a.port, "get greeting\r\n", "END\r\n"),
      "VALUE greeting 5 5\r\nhello\r\nEND\r\n",
    );
    // The other server is another server: it does not have the key.
    assert.equal(await converse(b.port, "get greeting\r\n", "END\r\n"), "END\r\n");
    const stats = await converse(b.port, "stats settings\r\n", "END\r\n");
    assert.match(stats, /STAT maxbytes 16777216\r\n/);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  assert.equal(isAlive(a.pid), false);
  assert.equal(existsSync(a.dir), false);
  await a.stop();
});
