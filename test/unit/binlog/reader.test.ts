import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteReader } from "../../../src/codecs/binlog/reader.ts";
import { SluiceError } from "../../../src/core/errors.ts";

test("fixed-width little-endian integers", () => {
  const r = new ByteReader(Buffer.from("0102030405060708090a0b0c0d0e0f1011121314ff", "hex"));
  assert.equal(r.u8(), 1);
  assert.equal(r.u16(), 0x0302);
  assert.equal(r.u24(), 0x060504);
  assert.equal(r.u32(), 0x0a090807);
  assert.equal(r.u48(), 0x100f0e0d0c0b);
  assert.equal(r.remaining, 5);
  assert.equal(r.i8(), 0x11);
  r.skip(3);
  assert.equal(r.i8(), -1);
  assert.equal(r.remaining, 0);
});

test("64-bit values are bigint, signed and unsigned", () => {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(0xffffffffffffffffn, 0);
  b.writeBigInt64LE(-5n, 8);
  const r = new ByteReader(b);
  assert.equal(r.u64(), 0xffffffffffffffffn);
  assert.equal(r.i64(), -5n);
});

test("length-encoded ints and strings", () => {
  const r = new ByteReader(
    Buffer.from("fa fb fc3412 fd563412 fe0100000000000080 03616263".replace(/ /g, ""), "hex"),
  );
  assert.equal(r.lenencInt(), 250);
  assert.equal(r.lenencInt(), null);
  assert.equal(r.lenencInt(), 0x1234);
  assert.equal(r.lenencInt(), 0x123456);
  assert.equal(r.lenencInt(), 0x8000000000000001n);
  assert.equal(r.lenencBytes().toString(), "abc");
});

test("reads are bounded by the frame end, not the buffer", () => {
  const buf = Buffer.from("0102030405", "hex");
  const r = new ByteReader(buf, 1, 3);
  assert.equal(r.u16(), 0x0302);
  assert.throws(
    () => r.u8("flags"),
    (e: unknown) => e instanceof SluiceError && e.code === "BINLOG_TRUNCATED" && e.context.what === "flags",
  );
});

test("truncation names the absolute offset", () => {
  const r = new ByteReader(Buffer.from("00", "hex")).at("mysql-bin.000001", 100);
  r.u8();
  assert.throws(
    () => r.u32("server_id"),
    (e: unknown) =>
      e instanceof SluiceError && e.context.offset === 101 && e.context.file === "mysql-bin.000001",
  );
});

test("NUL-terminated strings and views", () => {
  const buf = Buffer.from("abc\0def", "latin1");
  const r = new ByteReader(buf);
  assert.equal(r.nullTerminatedString(), "abc");
  const v = r.bytes(3);
  assert.equal(v.buffer, buf.buffer);
  assert.throws(() => new ByteReader(Buffer.from("ab")).nullTerminatedString(), SluiceError);
});
