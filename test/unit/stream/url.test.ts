import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { isSluiceError } from "../../../src/core/errors.ts";
import { lagOf } from "../../../src/stream/consumer.ts";
import { parseStreamUrl } from "../../../src/stream/url.ts";

test("file: URLs resolve relative paths and take ?stream=", () => {
  assert.deepEqual(parseStreamUrl("file:./sluice.db"), {
    kind: "sqlite",
    path: resolve("sluice.db"),
    stream: undefined,
    sync: "full",
  });
  assert.deepEqual(parseStreamUrl("file:/var/lib/x.db?stream=changes"), {
    kind: "sqlite",
    path: "/var/lib/x.db",
    stream: "changes",
    sync: "full",
  });
  assert.equal((parseStreamUrl("file:x.db?sync=normal") as { sync: string }).sync, "normal");
  assert.equal(parseStreamUrl("file:///abs/path%20with%20space.db").kind, "sqlite");
  assert.equal((parseStreamUrl("file:///abs/p%20q.db") as { path: string }).path, "/abs/p q.db");
});

test("amqp: URLs: the path is the stream, the vhost comes from ?vhost=, the password from the env when absent", () => {
  assert.deepEqual(parseStreamUrl("amqp://guest:guest@127.0.0.1:5672/changes", {}), {
    kind: "rabbitmq",
    host: "127.0.0.1",
    port: 5672,
    username: "guest",
    password: "guest",
    vhost: "/",
    stream: "changes",
  });
  const t = parseStreamUrl("amqp://sluice@mq.local?vhost=prod", { SLUICE_AMQP_PASSWORD: "from-env" });
  assert.equal(t.kind, "rabbitmq");
  if (t.kind !== "rabbitmq") return;
  assert.equal(t.password, "from-env");
  assert.equal(t.port, 5672);
  assert.equal(t.vhost, "prod");
  assert.equal(t.stream, undefined);
});

test("redis: URLs: the path is the stream, ?db= the database, the password from the env when absent", () => {
  assert.deepEqual(parseStreamUrl("redis://127.0.0.1:6379/changes", {}), {
    kind: "redis",
    host: "127.0.0.1",
    port: 6379,
    username: undefined,
    password: undefined,
    db: 0,
    tls: false,
    stream: "changes",
    prefix: "sluice",
  });
  const t = parseStreamUrl(
    "rediss://sluice@cache.local?db=3&prefix=cdc.prod&reconnect=5s&backoff_min=50ms&name=cdc&wait=2&wait_timeout=250ms",
    { SLUICE_REDIS_PASSWORD: "from-env" },
  );
  assert.equal(t.kind, "redis");
  if (t.kind !== "redis") return;
  assert.deepEqual(
    { ...t },
    {
      kind: "redis",
      host: "cache.local",
      port: 6379,
      username: "sluice",
      password: "from-env",
      db: 3,
      tls: true,
      stream: undefined,
      prefix: "cdc.prod",
      reconnect: { budgetMs: 5000, minDelayMs: 50 },
      connectionName: "cdc",
      wait: { replicas: 2, timeoutMs: 250 },
    },
  );
  assert.equal((parseStreamUrl("redis://h/s?wait=0") as { wait?: unknown }).wait, undefined);
});

test("bad URLs are usage errors that show the URL without its password and say what to write", () => {
  const cases: [string, string, RegExp][] = [
    ["kafka://localhost", "USAGE_STREAM_URL", /unknown stream-log scheme 'kafka:'/],
    ["redis://u:topsecret@/s", "USAGE_STREAM_URL", /not a URL|no host/],
    ["redis://u:topsecret@h/s?db=x", "USAGE_STREAM_URL", /db=x/],
    ["redis://u:topsecret@h/s?prefix=a*b", "USAGE_STREAM_URL", /prefix=a\*b/],
    ["redis://u:topsecret@h/s?wait=two", "USAGE_STREAM_URL", /wait=two/],
    ["redis://u:topsecret@h/s?wait=1&wait_timeout=0", "USAGE_STREAM_URL", /wait_timeout=0/],
    ["redis://u:topsecret@h/s?reconnect=soon", "USAGE_STREAM_URL", /reconnect=soon/],
    ["redis://u:topsecret@h/s?name=my%20stage", "USAGE_STREAM_URL", /no spaces/],
    ["redis://u:topsecret@h/bad%20name", "USAGE_STREAM_NAME", /invalid stream name 'bad name'/],
    ["sluice.db", "USAGE_STREAM_URL", /no scheme/],
    ["file:", "USAGE_STREAM_URL", /no file path/],
    ["file:x.db?sync=off", "USAGE_STREAM_URL", /sync=off \(expected full or normal\)/],
    ["file://host/x.db", "USAGE_STREAM_URL", /no host/],
    ["amqp://u:topsecret@/s", "USAGE_STREAM_URL", /not a URL/],
    ["amqp://u:topsecret@h/bad%20name", "USAGE_STREAM_NAME", /invalid stream name 'bad name'/],
  ];
  for (const [url, code, message] of cases) {
    assert.throws(
      () => parseStreamUrl(url),
      (e: unknown) => {
        assert.ok(isSluiceError(e));
        assert.equal(e.code, code, url);
        assert.match(e.message, message);
        assert.ok(e.hint);
        assert.doesNotMatch(e.describe(), /topsecret/);
        return true;
      },
    );
  }
});

test("lag is head - committed, or everything retained when nothing is committed", () => {
  assert.equal(lagOf(undefined, undefined, undefined), 0);
  assert.equal(lagOf(99, 0, 39), 60);
  assert.equal(lagOf(99, 0, undefined), 100);
  assert.equal(lagOf(99, 50, undefined), 50);
  assert.equal(lagOf(99, 0, 99), 0);
  assert.equal(lagOf(10, 0, 20), 0);
});

test("nats: URLs: the path is the stream, a user optional (its password from the env when absent), the broker options of amqp", () => {
  assert.deepEqual(parseStreamUrl("nats://127.0.0.1:4222/changes", {}), {
    kind: "nats",
    host: "127.0.0.1",
    port: 4222,
    stream: "changes",
  });
  assert.deepEqual(
    parseStreamUrl(
      "nats://sluice@nats.local/cdc.v1?reconnect=5m&backoff_min=250ms&backoff_max=2s&name=cdc-1",
      {
        SLUICE_NATS_PASSWORD: "from-env",
      },
    ),
    {
      kind: "nats",
      host: "nats.local",
      port: 4222,
      stream: "cdc.v1",
      username: "sluice",
      password: "from-env",
      reconnect: { budgetMs: 300_000, minDelayMs: 250, maxDelayMs: 2000 },
      connectionName: "cdc-1",
    },
  );
  const t = parseStreamUrl("nats://u:p%40ss@[::1]:4223", {});
  assert.deepEqual(t, {
    kind: "nats",
    host: "::1",
    port: 4223,
    stream: undefined,
    username: "u",
    password: "p@ss",
  });
  for (const [url, message] of [
    ["nats://u:topsecret@/x", /not a URL/],
    ["nats://u:topsecret@h/x?reconnect=soon", /reconnect=soon \(expected a duration/],
    ["nats://u:topsecret@h/bad%20name", /invalid stream name 'bad name'/],
  ] as const)
    assert.throws(
      () => parseStreamUrl(url, {}),
      (e: unknown) => {
        assert.ok(isSluiceError(e));
        assert.match(e.message, message);
        assert.doesNotMatch(e.describe(), /topsecret/);
        return true;
      },
    );
});
