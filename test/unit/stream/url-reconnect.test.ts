import assert from "node:assert/strict";
import { test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { parseStreamUrl } from "../../../src/stream/url.ts";

const rabbit = (url: string) => {
  const t = parseStreamUrl(url, {});
  assert.equal(t.kind, "rabbitmq");
  if (t.kind !== "rabbitmq") throw new Error("unreachable");
  return t;
};

test("amqp: reconnect options: durations in ms, s, m, h or plain seconds, and the connection name", () => {
  const t = rabbit(
    "amqp://guest:guest@127.0.0.1/cdc?reconnect=5m&backoff_min=250ms&backoff_max=2&name=cdc-1",
  );
  assert.deepEqual(t.reconnect, { budgetMs: 300_000, minDelayMs: 250, maxDelayMs: 2000 });
  assert.equal(t.connectionName, "cdc-1");
  assert.equal(t.stream, "cdc");
  assert.deepEqual(rabbit("amqp://h/s?reconnect=0").reconnect, { budgetMs: 0 });
  assert.deepEqual(rabbit("amqp://h/s?reconnect=1.5h").reconnect, { budgetMs: 5_400_000 });
  // Unset options are left to the adapter's defaults.
  const plain = rabbit("amqp://h/s");
  assert.equal(plain.reconnect, undefined);
  assert.equal(plain.connectionName, undefined);
});

test("amqp: a malformed reconnect option is a usage error naming it, without the password", () => {
  for (const [query, message] of [
    ["reconnect=soon", /reconnect=soon \(expected a duration/],
    ["backoff_min=-1s", /backoff_min=-1s/],
    ["backoff_max=0", /above 0/],
  ] as const) {
    assert.throws(
      () => parseStreamUrl(`amqp://u:topsecret@h/s?${query}`, {}),
      (e: unknown) => {
        assert.ok(isSluiceError(e));
        assert.equal(e.code, "USAGE_STREAM_URL");
        assert.match(e.message, message);
        assert.doesNotMatch(e.describe(), /topsecret/);
        return true;
      },
    );
  }
});

test("?heartbeat= on every broker URL: a duration, absent = the adapter's default", () => {
  assert.equal(rabbit("amqp://h/s?heartbeat=1s").heartbeatMs, 1000);
  assert.equal(rabbit("amqp://h/s").heartbeatMs, undefined);
  for (const url of ["nats://h/s?heartbeat=2500ms", "redis://h/s?heartbeat=2.5"]) {
    const t = parseStreamUrl(url, {});
    assert.ok(t.kind === "nats" || t.kind === "redis");
    assert.equal(t.heartbeatMs, 2500, url);
  }
  for (const [query, message] of [
    ["heartbeat=often", /heartbeat=often \(expected a duration above 0/],
    ["heartbeat=0", /heartbeat=0 \(expected a duration above 0/],
  ] as const)
    for (const scheme of ["amqp", "nats", "redis"])
      assert.throws(
        () => parseStreamUrl(`${scheme}://h/s?${query}`, {}),
        (e: unknown) => {
          assert.ok(isSluiceError(e));
          assert.equal(e.code, "USAGE_STREAM_URL");
          assert.match(e.message, message);
          return true;
        },
      );
});
