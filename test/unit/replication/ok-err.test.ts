import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Capability,
  decodeEof,
  decodeErr,
  decodeOk,
  encodeEof,
  encodeErr,
  encodeLenencInt,
  encodeOk,
  isEofPacket,
  isErrPacket,
  isOkPacket,
  ServerStatus,
} from "../../../src/codecs/mysql/ok-err.ts";
import { SluiceError } from "../../../src/core/errors.ts";

const P41 = Capability.PROTOCOL_41;

test("OK packet as a server sends it after a one-row INSERT", () => {
  // INSERT affecting 1 row, last insert id 5, autocommit, 0 warnings.
  const payload = Buffer.from("00010502000000", "hex");
  assert.ok(isOkPacket(payload));
  assert.deepEqual(decodeOk(payload, P41), {
    affectedRows: 1,
    lastInsertId: 5,
    statusFlags: ServerStatus.AUTOCOMMIT,
    warnings: 0,
    info: "",
    sessionState: undefined,
  });
});

test("OK with large length-encoded counters and an info string", () => {
  const ok = {
    affectedRows: 70000,
    lastInsertId: 2n ** 60n,
    statusFlags: 3,
    warnings: 2,
    info: "Rows matched: 1  Changed: 1  Warnings: 0",
    sessionState: undefined,
  };
  const payload = encodeOk(ok, P41);
  assert.deepEqual(decodeOk(payload, P41), ok);
});

test("OK with session tracking: lenenc info then session state", () => {
  const caps = P41 | Capability.SESSION_TRACK;
  const ok = {
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: ServerStatus.SESSION_STATE_CHANGED,
    warnings: 0,
    info: "",
    sessionState: Buffer.from("000403666f6f", "hex"),
  };
  assert.deepEqual(decodeOk(encodeOk(ok, caps), caps), ok);
});

test("a truncated OK packet is a clear error", () => {
  assert.throws(
    () => decodeOk(Buffer.from("00fc01", "hex"), P41),
    (e: unknown) => e instanceof SluiceError && e.code === "MYSQL_BAD_PACKET",
  );
});

test("ERR packet keeps errno, SQLSTATE and message", () => {
  // ER_ACCESS_DENIED_ERROR as MariaDB sends it.
  const payload = Buffer.from(
    "ff15042332383030304163636573732064656e69656420666f72207573657220277827",
    "hex",
  );
  assert.ok(isErrPacket(payload));
  assert.deepEqual(decodeErr(payload), {
    errno: 1045,
    sqlState: "28000",
    message: "Access denied for user 'x'",
  });
  assert.deepEqual(decodeErr(encodeErr(decodeErr(payload))), decodeErr(payload));
});

test("ERR without SQLSTATE (sent before capabilities are negotiated)", () => {
  const payload = encodeErr({
    errno: 1130,
    sqlState: undefined,
    message: "Host 'x' is not allowed to connect",
  });
  assert.deepEqual(decodeErr(payload), {
    errno: 1130,
    sqlState: undefined,
    message: "Host 'x' is not allowed to connect",
  });
});

test("EOF packet, and EOF is told apart from a 0xFE row", () => {
  const eof = encodeEof({
    warnings: 1,
    statusFlags: ServerStatus.AUTOCOMMIT | ServerStatus.MORE_RESULTS_EXISTS,
  });
  assert.ok(isEofPacket(eof));
  assert.deepEqual(decodeEof(eof), { warnings: 1, statusFlags: 10 });
  assert.ok(!isEofPacket(Buffer.concat([Buffer.from([0xfe]), Buffer.alloc(8)])));
});

test("length-encoded integer boundaries", () => {
  const cases: [number | bigint, string][] = [
    [0, "00"],
    [250, "fa"],
    [251, "fcfb00"],
    [0xffff, "fcffff"],
    [0x10000, "fd000001"],
    [0xffffff, "fdffffff"],
    [0x1000000, "fe0000000100000000"],
    [2n ** 64n - 1n, "feffffffffffffffff"],
  ];
  for (const [v, hex] of cases) assert.equal(encodeLenencInt(v).toString("hex"), hex, String(v));
});
