import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { type BrokerKind, localBroker } from "../../../src/sandbox/index.ts";

/** The first bytes a broker sends after `hello`, to check it is the broker we think it is. */
function firstReply(port: number, hello: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.setTimeout(5_000, () => {
      sock.destroy();
      reject(new Error(`no reply on port ${port}`));
    });
    sock.on("error", reject);
    sock.on("connect", () => {
      if (hello.length) sock.write(hello);
    });
    sock.once("data", (d) => {
      sock.destroy();
      resolve(d);
    });
  });
}

const greetings: Record<BrokerKind, { hello: Buffer; expect: RegExp; encoding?: "hex" }> = {
  // AMQP: a protocol header gets Connection.Start (frame type 1), shown here as its method payload's text.
  rabbitmq: { hello: Buffer.from("AMQP\x00\x00\x09\x01", "latin1"), expect: /RabbitMQ/ },
  redis: { hello: Buffer.from("PING\r\n"), expect: /^\+PONG\r\n$/ },
  nats: { hello: Buffer.alloc(0), expect: /^INFO \{/ },
  // MQTT 3.1.1 CONNECT with a client id; the broker answers CONNACK (0x20 0x02 ...).
  mosquitto: {
    hello: Buffer.from([
      0x10, 0x12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 10, 0, 6, 0x73, 0x6c, 0x75, 0x69, 0x63, 0x65,
    ]),
    expect: /^2002/,
    encoding: "hex",
  },
};

for (const kind of Object.keys(greetings) as BrokerKind[]) {
  test(`localBroker finds the local ${kind} and it speaks its protocol`, async () => {
    const broker = await localBroker(kind);
    assert.equal(broker.kind, kind);
    assert.ok(broker.url.includes(`:${broker.port}`));
    const g = greetings[kind];
    const reply = await firstReply(broker.port, g.hello);
    assert.match(reply.toString(g.encoding ?? "latin1"), g.expect);
  });
}

test("localBroker rejects an unknown kind with a usage error", async () => {
  for (const kind of ["kafka", "constructor", "toString"]) {
    await assert.rejects(localBroker(kind as BrokerKind), { code: "USAGE_BROKER_KIND" });
  }
});

test("a broker URL from the environment that nothing answers is a clear error", async () => {
  const saved = process.env.SLUICE_REDIS_URL;
  process.env.SLUICE_REDIS_URL = "redis://127.0.0.1:1";
  try {
    await assert.rejects(localBroker("redis"), { code: "SANDBOX_BROKER_UNREACHABLE" });
  } finally {
    if (saved === undefined) delete process.env.SLUICE_REDIS_URL;
    else process.env.SLUICE_REDIS_URL = saved;
  }
});
