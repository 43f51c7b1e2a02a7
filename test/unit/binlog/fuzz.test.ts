import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { BinlogEventDecoder } from "../../../src/codecs/binlog/decoder.ts";
import { BinlogFramer } from "../../../src/codecs/binlog/framer.ts";
import { eventToJson, eventToText } from "../../../src/codecs/binlog/output.ts";
import { EventType } from "../../../src/codecs/binlog/types.ts";
import { SluiceError } from "../../../src/core/errors.ts";
import { decodeChunks, fixture } from "./helpers.ts";

function onlySluiceErrors(error: unknown): void {
  if (error !== undefined && !(error instanceof SluiceError)) {
    throw new Error(`not a SluiceError: ${error instanceof Error ? error.stack : String(error)}`);
  }
  // BINLOG_INTERNAL is how the decoder reports its own bugs: never acceptable here.
  if (error instanceof SluiceError && error.code === "BINLOG_INTERNAL") {
    const cause = error.cause instanceof Error ? error.cause.stack : String(error.cause);
    throw new Error(`decoder bug: ${error.message}\n${cause}`);
  }
}

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);

test("random bytes after the magic: decoded or a SluiceError, never anything else", {
  timeout: 60_000,
}, async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
      const r = await decodeChunks([MAGIC, Buffer.from(bytes)], "fuzz.000001");
      onlySluiceErrors(r.error);
      for (const ev of r.events) {
        JSON.stringify(eventToJson(ev));
        eventToText(ev);
      }
    }),
    { numRuns: 2000 },
  );
});

/** The events of a fixture as [offset, bytes] after its format description. */
function eventsOf(name: string): Array<{ offset: number; bytes: Buffer }> {
  const framer = new BinlogFramer(name);
  return framer.push(fixture(name)).map((f) => ({ offset: f.offset, bytes: Buffer.from(f.bytes) }));
}

const CORPUS = [
  "mariadb-bin.000001",
  "json.binlog.000001",
  "transaction_compression.000001",
  "binlog_transaction_with_GTID_TAG.000001",
  "binlog-invisible-columns.000001",
  "mysql-enum-string-set.000001",
  "vector.binlog",
  "ver_5_1_23.001",
  "bug27213339-bin.000001",
];

test("mutated real events: decoded or a SluiceError, never anything else, never a hang", {
  timeout: 120_000,
}, () => {
  const files = CORPUS.map((name) => ({ name, events: eventsOf(name) }));
  fc.assert(
    fc.property(
      fc.constantFrom(...files),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      (file, pick, flips, fixCrc) => {
        const decoder = new BinlogEventDecoder({ verifyChecksum: true });
        const fde = file.events[0]!;
        decoder.decode(fde.bytes, { file: file.name, offset: fde.offset });
        const idx = 1 + (pick % Math.max(1, file.events.length - 1));
        // decode what precedes the victim so that its table maps and context exist
        for (let i = 1; i < idx && i < file.events.length; i++) {
          const e = file.events[i]!;
          try {
            decoder.decode(e.bytes, { file: file.name, offset: e.offset });
          } catch (error) {
            onlySluiceErrors(error);
          }
        }
        const victim = file.events[idx];
        if (!victim) return;
        const bytes = Buffer.from(victim.bytes);
        for (const [at, value] of flips) {
          // keep the size field (the framer checks it) so that the body decoders see the damage
          const p = 19 + (at % Math.max(1, bytes.length - 19));
          if (p < bytes.length) bytes[p] = value;
        }
        if (fixCrc && decoder.ctx.checksum === 1 && bytes.length >= 23)
          bytes.writeUInt32LE(crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
        try {
          const ev = decoder.decode(bytes, { file: file.name, offset: victim.offset });
          JSON.stringify(eventToJson(ev));
          eventToText(ev);
        } catch (error) {
          onlySluiceErrors(error);
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test("random bodies for every event type: decoded or a SluiceError", { timeout: 120_000 }, () => {
  const types = [...Object.values(EventType), 99, 200, 255];
  for (const flavorFile of [
    "mariadb-bin.000001",
    "json.binlog.000001",
    "binlog_transaction_with_GTID_TAG.000001",
  ]) {
    const fde = eventsOf(flavorFile)[0]!;
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.uint8Array({ maxLength: 120 }),
        fc.boolean(),
        (type, body, ignorable) => {
          const decoder = new BinlogEventDecoder({ verifyChecksum: false });
          decoder.decode(fde.bytes, { file: flavorFile, offset: 4 });
          const ev = Buffer.alloc(19 + body.length + 4);
          ev.writeUInt32LE(1700000000, 0);
          ev[4] = type;
          ev.writeUInt32LE(1, 5);
          ev.writeUInt32LE(ev.length, 9);
          ev.writeUInt32LE(1000 + ev.length, 13);
          ev.writeUInt16LE(ignorable ? 0x80 : 0, 17);
          Buffer.from(body).copy(ev, 19);
          try {
            const out = decoder.decode(ev, { file: flavorFile, offset: 1000 });
            JSON.stringify(eventToJson(out));
            eventToText(out);
          } catch (error) {
            onlySluiceErrors(error);
          }
        },
      ),
      { numRuns: 1500 },
    );
  }
});

test("an unknown event type is passed on with its bytes and the stream goes on", async () => {
  const events = eventsOf("mariadb-bin.000001");
  const fde = events[0]!.bytes;
  const unknown = Buffer.alloc(19 + 5 + 4);
  unknown.writeUInt32LE(1700000000, 0);
  unknown[4] = 0xee;
  unknown.writeUInt32LE(7, 5);
  unknown.writeUInt32LE(unknown.length, 9);
  unknown.writeUInt32LE(4 + fde.length + unknown.length, 13);
  unknown.write("hello", 19, "latin1");
  unknown.writeUInt32LE(crc32(unknown.subarray(0, unknown.length - 4)), unknown.length - 4);
  const rest = Buffer.concat(events.slice(1).map((e) => e.bytes));
  const r = await decodeChunks([MAGIC, fde, unknown, rest], "mariadb-bin.000001");
  assert.equal(r.error, undefined);
  const u = r.events[1]!;
  assert.equal(u.type, "unknown");
  assert.deepEqual(eventToJson(u), {
    type: "unknown",
    position: { file: "mariadb-bin.000001", offset: 4 + fde.length, next: 4 + fde.length + unknown.length },
    timestamp: 1700000000,
    serverId: 7,
    typeCode: 0xee,
    raw: { base64: Buffer.from("hello").toString("base64") },
  });
  assert.equal(r.events.length, events.length + 1);
});

test("user variables with random values of every type: decoded or a SluiceError", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5 }),
      fc.constantFrom(8, 33, 45, 63, 255, 9999),
      fc.uint8Array({ maxLength: 40 }),
      fc.boolean(),
      (valueType, charset, value, withFlags) => {
        const name = Buffer.from("v");
        const body = Buffer.alloc(4 + name.length + 1 + 1 + 4 + 4 + value.length + (withFlags ? 1 : 0));
        let p = body.writeUInt32LE(name.length, 0);
        p += name.copy(body, p);
        body[p++] = 0;
        body[p++] = valueType;
        p = body.writeUInt32LE(charset, p);
        p = body.writeUInt32LE(value.length, p);
        p += Buffer.from(value).copy(body, p);
        if (withFlags) body[p] = 1;
        const ev = Buffer.alloc(19 + body.length);
        ev[4] = EventType.USER_VAR;
        ev.writeUInt32LE(ev.length, 9);
        body.copy(ev, 19);
        try {
          const out = new BinlogEventDecoder({ checksum: 0 }).decode(ev, { file: "f.000001", offset: 4 });
          JSON.stringify(eventToJson(out));
          eventToText(out);
        } catch (error) {
          onlySluiceErrors(error);
        }
      },
    ),
    { numRuns: 3000 },
  );
});
