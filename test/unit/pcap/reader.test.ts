import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { CaptureDecoder } from "../../../src/capture/decoder.ts";
import { LinkType } from "../../../src/codecs/net/link.ts";
import { encodePcapGlobalHeader, encodePcapRecord } from "../../../src/codecs/pcap/pcap.ts";
import {
  encodeEnhancedPacket,
  encodeInterfaceBlock,
  encodeSectionHeader,
  encodeSimplePacket,
} from "../../../src/codecs/pcap/pcapng.ts";
import { CaptureFileParser } from "../../../src/codecs/pcap/reader.ts";
import type { CapturedFrame } from "../../../src/codecs/pcap/record.ts";
import { isSluiceError } from "../../../src/core/errors.ts";
import { fixturePath } from "../capture/helpers.ts";

function parse(chunks: Buffer[]): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  const p = new CaptureFileParser((f) => frames.push({ ...f, data: Buffer.from(f.data) }), {
    file: "x.pcap",
  });
  for (const c of chunks) p.push(c);
  p.end();
  return frames;
}

const cli = readFileSync(fixturePath("cli.pcap"));
const cliNg = readFileSync(fixturePath("cli.pcapng"));

test("pcap and its pcapng conversion give the same frames", () => {
  const a = parse([cli]);
  const b = parse([cliNg]);
  assert.equal(a.length, 38);
  assert.deepEqual(
    a.map((f) => [f.linkType, f.timestampUs, f.data.toString("hex")]),
    b.map((f) => [f.linkType, f.timestampUs, f.data.toString("hex")]),
  );
});

test("nanosecond pcap: timestamps keep their sub-microsecond part", () => {
  const frames = parse([readFileSync(fixturePath("cli-nano.pcap"))]);
  assert.ok(frames.some((f) => !Number.isInteger(f.timestampUs)));
});

test("big-endian pcap (as written on a big-endian machine) reads the same", () => {
  const le = encodePcapGlobalHeader(LinkType.RAW);
  const be = Buffer.alloc(24);
  be.writeUInt32BE(0xa1b2c3d4, 0);
  be.writeUInt16BE(2, 4);
  be.writeUInt16BE(4, 6);
  be.writeUInt32BE(65535, 16);
  be.writeUInt32BE(LinkType.RAW, 20);
  const data = Buffer.from("450000140000000040060000010203040a0b0c0d", "hex");
  const recBe = Buffer.alloc(16);
  recBe.writeUInt32BE(1700000000, 0);
  recBe.writeUInt32BE(250, 4);
  recBe.writeUInt32BE(data.length, 8);
  recBe.writeUInt32BE(data.length, 12);
  const fromBe = parse([Buffer.concat([be, recBe, data])]);
  const fromLe = parse([Buffer.concat([le, encodePcapRecord(1700000000 * 1e6 + 250, data)])]);
  assert.deepEqual(
    fromBe.map((f) => [f.linkType, f.timestampUs, f.data]),
    [[LinkType.RAW, 1700000000000250, data]],
  );
  assert.deepEqual(
    fromLe.map((f) => [f.linkType, f.timestampUs, f.data]),
    [[LinkType.RAW, 1700000000000250, data]],
  );
});

test("pcapng: several interfaces, each with its link type and timestamp resolution; simple packet blocks", () => {
  const a = Buffer.from("aa", "hex");
  const b = Buffer.from("bbbb", "hex");
  const file = Buffer.concat([
    encodeSectionHeader(),
    encodeInterfaceBlock(LinkType.ETHERNET),
    encodeInterfaceBlock(LinkType.LINUX_SLL2, 9),
    encodeEnhancedPacket(0, 1_700_000_000_123_456n, a),
    encodeEnhancedPacket(1, 1_700_000_000_123_456_789n, b),
    encodeSimplePacket(b),
  ]);
  const frames = parse([file]);
  assert.deepEqual(
    frames.map((f) => [f.interfaceId, f.linkType, f.timestampUs, f.data.toString("hex")]),
    [
      [0, LinkType.ETHERNET, 1_700_000_000_123_456, "aa"],
      // 1_700_000_000_123_456_789 ns: a double keeps the microseconds and most of the fraction.
      [1, LinkType.LINUX_SLL2, 1_700_000_000_123_456 + 0.789, "bbbb"],
      [0, LinkType.ETHERNET, 0, "bbbb"],
    ],
  );
});

test("chunks cut at every split point give the same frames (pcap and pcapng)", () => {
  for (const file of [cli, cliNg]) {
    const whole = parse([file]);
    for (let cut = 0; cut <= file.length; cut++) {
      const frames = parse([file.subarray(0, cut), file.subarray(cut)]);
      assert.equal(frames.length, whole.length);
      assert.deepEqual(frames.at(-1)?.data, whole.at(-1)?.data);
    }
    const bytes = [...file].map((x) => Buffer.from([x]));
    assert.deepEqual(parse(bytes), whole);
  }
});

test("a truncated file ends in PCAP_TRUNCATED naming the file and offset, after the whole frames", () => {
  for (const file of [cli, cliNg]) {
    const whole = parse([file]);
    for (let cut = 1; cut < file.length; cut += 7) {
      const frames: CapturedFrame[] = [];
      const p = new CaptureFileParser((f) => frames.push(f), { file: "cut.pcap" });
      p.push(file.subarray(0, cut));
      try {
        p.end();
        // Cut exactly on a record boundary: a shorter, valid file.
        assert.ok(frames.length <= whole.length);
      } catch (e) {
        assert.ok(isSluiceError(e));
        assert.equal(e.code, "PCAP_TRUNCATED");
        assert.equal(e.context.file, "cut.pcap");
        assert.equal(typeof e.context.offset, "number");
      }
    }
  }
});

test("not a capture file: PCAP_BAD_MAGIC", () => {
  assert.throws(
    () => parse([Buffer.from("hello world, not a pcap")]),
    (e: unknown) => isSluiceError(e) && e.code === "PCAP_BAD_MAGIC",
  );
});

test("fuzzed captures: clear SluiceErrors or frames, and the decoder never throws", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(cli, cliNg),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }),
      fc.nat(),
      (base, flips, cutSeed) => {
        const file = Buffer.from(base);
        for (const [at, value] of flips) file[at % file.length] = value;
        const cut = cutSeed % (file.length + 1);
        const decoder = new CaptureDecoder(() => {}, { serverPorts: [] });
        const p = new CaptureFileParser((f) => decoder.frame(f), { file: "fuzz.pcap" });
        try {
          p.push(file.subarray(0, cut));
          p.push(file.subarray(cut));
          p.end();
        } catch (e) {
          if (!isSluiceError(e)) throw e;
          assert.ok(e.code.startsWith("PCAP"));
        }
        decoder.finish();
        assert.ok(decoder.bufferedBytes === 0);
      },
    ),
    { numRuns: 300 },
  );
});
