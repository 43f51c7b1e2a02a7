import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  encodePacket,
  MAX_PACKET_PAYLOAD,
  type MysqlPacket,
  PacketParser,
  wirePacketCount,
} from "../../../src/codecs/mysql/packet.ts";
import { SluiceError } from "../../../src/core/errors.ts";

function parseChunks(chunks: Buffer[]): MysqlPacket[] {
  const out: MysqlPacket[] = [];
  const parser = new PacketParser((p) => out.push({ ...p, payload: Buffer.from(p.payload) }));
  for (const c of chunks) parser.push(c);
  assert.equal(parser.buffered, 0, "nothing left over");
  return out;
}

const small = [Buffer.alloc(0), Buffer.from("a"), Buffer.from("hello world"), Buffer.alloc(300, 7)];

test("header is 3-byte little-endian length + sequence id", () => {
  assert.deepEqual(encodePacket(Buffer.from("ab"), 5), Buffer.from([2, 0, 0, 5, 0x61, 0x62]));
  assert.deepEqual(encodePacket(Buffer.alloc(0), 255), Buffer.from([0, 0, 0, 255]));
  const long = encodePacket(Buffer.alloc(0x012345), 0);
  assert.deepEqual(long.subarray(0, 4), Buffer.from([0x45, 0x23, 0x01, 0]));
});

test("several packets in one stream, split at every single point", () => {
  const stream = Buffer.concat(small.map((p, i) => encodePacket(p, i)));
  for (let cut = 0; cut <= stream.length; cut++) {
    const got = parseChunks([stream.subarray(0, cut), stream.subarray(cut)]);
    assert.equal(got.length, small.length, `cut at ${cut}`);
    got.forEach((p, i) => {
      assert.deepEqual(p.payload, small[i]);
      assert.equal(p.sequenceId, i);
      assert.equal(p.nextSequenceId, i + 1);
    });
  }
});

test("one byte at a time", () => {
  const stream = Buffer.concat(small.map((p, i) => encodePacket(p, i)));
  const chunks = [...stream].map((b) => Buffer.from([b]));
  const got = parseChunks(chunks);
  assert.deepEqual(
    got.map((p) => p.payload),
    small,
  );
});

test("a payload whole inside a chunk is passed as a view, not copied", () => {
  const stream = encodePacket(Buffer.from("xyz"), 0);
  let seen: Buffer | undefined;
  new PacketParser((p) => {
    seen = p.payload;
  }).push(stream);
  assert.equal(seen?.buffer, stream.buffer);
});

test("sequence ids wrap at 256", () => {
  const stream = encodePacket(Buffer.from("z"), 255);
  const [p] = parseChunks([stream]);
  assert.equal(p?.sequenceId, 255);
  assert.equal(p?.nextSequenceId, 0);
});

test("payloads of 0xFFFFFF bytes and more are split and joined back", () => {
  for (const length of [
    MAX_PACKET_PAYLOAD - 1,
    MAX_PACKET_PAYLOAD,
    MAX_PACKET_PAYLOAD + 10,
    2 * MAX_PACKET_PAYLOAD,
  ]) {
    const payload = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i += 4096) payload[i] = (i / 4096) & 0xff;
    payload[length - 1] = 0x5a;
    const wire = encodePacket(payload, 254);
    const count = wirePacketCount(length);
    assert.equal(wire.length, length + 4 * count);
    // Cut around every wire-packet boundary (inside the headers of the continuation packets too).
    const boundaries = [0];
    for (let k = 1; k < count; k++) boundaries.push(k * (MAX_PACKET_PAYLOAD + 4));
    const cuts = new Set<number>([wire.length]);
    for (const b of boundaries)
      for (let d = -2; d <= 6; d++) if (b + d >= 0 && b + d <= wire.length) cuts.add(b + d);
    for (const cut of cuts) {
      const out: MysqlPacket[] = [];
      const parser = new PacketParser((p) => out.push(p));
      parser.push(wire.subarray(0, cut));
      parser.push(wire.subarray(cut));
      assert.equal(out.length, 1, `length ${length} cut ${cut}`);
      assert.equal(out[0]?.payload.length, length);
      assert.ok(out[0]?.payload.equals(payload));
      assert.equal(out[0]?.sequenceId, 254);
      assert.equal(out[0]?.nextSequenceId, (254 + count) & 0xff);
    }
  }
});

test("a payload of exactly 0xFFFFFF bytes ends with an empty packet", () => {
  assert.equal(wirePacketCount(MAX_PACKET_PAYLOAD), 2);
  const wire = encodePacket(Buffer.alloc(MAX_PACKET_PAYLOAD), 0);
  assert.deepEqual(wire.subarray(wire.length - 4), Buffer.from([0, 0, 0, 1]));
});

test("a packet larger than the limit is refused before it is buffered", () => {
  const parser = new PacketParser(() => {}, { maxPayloadLength: 10 });
  assert.throws(
    () => parser.push(Buffer.from([11, 0, 0, 0])),
    (e: unknown) => e instanceof SluiceError && e.code === "MYSQL_PACKET_TOO_LARGE",
  );
});

test("fuzz: any payloads, any chunking", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 8 }),
      fc.array(fc.nat(700), { maxLength: 12 }),
      (payloads, cutsRaw) => {
        const stream = Buffer.concat(payloads.map((p, i) => encodePacket(Buffer.from(p), i)));
        const cuts = [...new Set(cutsRaw.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const c of cuts) {
          chunks.push(stream.subarray(prev, c));
          prev = c;
        }
        chunks.push(stream.subarray(prev));
        const got = parseChunks(chunks);
        assert.deepEqual(
          got.map((p) => [...p.payload]),
          payloads.map((p) => [...p]),
        );
      },
    ),
  );
});

test("peek takes the packets it wants of those lying whole in a chunk; the rest reach onPacket", () => {
  const payloads = [Buffer.from("keep"), Buffer.from("skip-1"), Buffer.from("skip-2"), Buffer.alloc(0)];
  const stream = Buffer.concat(payloads.map((p, i) => encodePacket(p, i)));
  for (let cut = 0; cut <= stream.length; cut++) {
    const peeked: string[] = [];
    const got: string[] = [];
    const parser = new PacketParser((p) => got.push(p.payload.toString()), {
      peek: (chunk, start, length, sequenceId) => {
        const text = chunk.toString("utf8", start, start + length);
        assert.equal(text, payloads[sequenceId]!.toString(), `cut at ${cut}`);
        if (!text.startsWith("skip")) return false;
        peeked.push(text);
        return true;
      },
    });
    parser.push(stream.subarray(0, cut));
    parser.push(stream.subarray(cut));
    // every packet reaches exactly one of them, in order; one split by the cut is never peeked
    assert.deepEqual([...got, ...peeked].sort(), payloads.map(String).sort(), `cut at ${cut}`);
    assert.ok(peeked.every((t) => !got.includes(t)));
    assert.equal(got[0], "keep");
  }
});
