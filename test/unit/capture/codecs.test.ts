import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import { CaptureDecoder } from "../../../src/capture/decoder.ts";
import type { ConnectEvent, SessionEvent } from "../../../src/capture/events.ts";
import { parseTcpdumpStats } from "../../../src/capture/live.ts";
import { ByteReader } from "../../../src/codecs/binlog/reader.ts";
import { readBinaryValue, readParamValues } from "../../../src/codecs/mysql/binary-values.ts";
import { CaptureCapability, decodeCommand } from "../../../src/codecs/mysql/command.ts";
import { CompressedFrameParser, encodeCompressedChunk } from "../../../src/codecs/mysql/compressed.ts";
import { decodeClientHandshake } from "../../../src/codecs/mysql/handshake-response.ts";
import { Capability, encodeLenencInt } from "../../../src/codecs/mysql/ok-err.ts";
import { encodePacket } from "../../../src/codecs/mysql/packet.ts";
import { decodeIp, ipv6Address } from "../../../src/codecs/net/ip.ts";
import { decodeLinkLayer, LinkType } from "../../../src/codecs/net/link.ts";
import { decodeTcpFrame, encodeIpv4Tcp, TcpFlag } from "../../../src/codecs/net/tcp.ts";
import { isSluiceError } from "../../../src/core/errors.ts";
import { greetingPayload } from "./helpers.ts";

const tcp = encodeIpv4Tcp({
  srcIp: "10.1.2.3",
  dstIp: "10.9.8.7",
  srcPort: 51000,
  dstPort: 3306,
  seq: 1,
  ack: 2,
  flags: TcpFlag.ACK | TcpFlag.PSH,
  payload: Buffer.from("hello"),
});
const mac = Buffer.alloc(12, 0xaa);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

test("Ethernet with 802.1Q and QinQ tags, and padding after the IP packet", () => {
  const plain = Buffer.concat([mac, u16(0x0800), tcp, Buffer.alloc(6)]);
  const dot1q = Buffer.concat([mac, u16(0x8100), u16(0x0064), u16(0x0800), tcp]);
  const qinq = Buffer.concat([mac, u16(0x88a8), u16(0x00c8), u16(0x8100), u16(0x0064), u16(0x0800), tcp]);
  for (const [frame, vlan] of [
    [plain, undefined],
    [dot1q, 100],
    [qinq, 200],
  ] as const) {
    const r = decodeTcpFrame(LinkType.ETHERNET, frame);
    assert.equal(r.kind, "tcp");
    if (r.kind !== "tcp") continue;
    assert.equal(r.segment.vlan, vlan);
    assert.equal(r.segment.payload.toString(), "hello"); // the Ethernet padding is not data
    assert.deepEqual(
      [r.segment.srcIp, r.segment.srcPort, r.segment.dstIp, r.segment.dstPort],
      ["10.1.2.3", 51000, "10.9.8.7", 3306],
    );
  }
});

test("SLL, SLL2, BSD loopback (both byte orders), LOOP and raw IP link layers", () => {
  const sll = Buffer.concat([Buffer.alloc(14), u16(0x0800), tcp]);
  const sll2 = Buffer.concat([u16(0x0800), Buffer.alloc(18), tcp]);
  const nullLe = Buffer.concat([Buffer.from([2, 0, 0, 0]), tcp]);
  const nullBe = Buffer.concat([Buffer.from([0, 0, 0, 2]), tcp]);
  const loop = Buffer.concat([Buffer.from([0, 0, 0, 2]), tcp]);
  for (const [type, frame] of [
    [LinkType.LINUX_SLL, sll],
    [LinkType.LINUX_SLL2, sll2],
    [LinkType.NULL, nullLe],
    [LinkType.NULL, nullBe],
    [LinkType.LOOP, loop],
    [LinkType.RAW, tcp],
    [LinkType.IPV4, tcp],
  ] as const) {
    const r = decodeTcpFrame(type, frame);
    assert.equal(r.kind, "tcp", `link type ${type}`);
  }
  assert.deepEqual(decodeLinkLayer(147, tcp), { kind: "skip", reason: "unsupported-link" });
  assert.deepEqual(decodeLinkLayer(LinkType.ETHERNET, Buffer.concat([mac, u16(0x0806), Buffer.alloc(28)])), {
    kind: "skip",
    reason: "not-ip",
  });
});

test("IPv6 with extension headers; fragments are counted and skipped", () => {
  const tcpHeader = tcp.subarray(20);
  const hopByHop = Buffer.from([60, 0, 0, 0, 0, 0, 0, 0]); // next: destination options
  const destOpts = Buffer.from([6, 0, 0, 0, 0, 0, 0, 0]); // next: TCP
  const payload = Buffer.concat([hopByHop, destOpts, tcpHeader]);
  const ip6 = Buffer.alloc(40);
  ip6[0] = 0x60;
  ip6.writeUInt16BE(payload.length, 4);
  ip6[6] = 0; // hop-by-hop
  ip6[7] = 64;
  ip6[23] = 1; // ::1
  ip6[39] = 1;
  const frame = Buffer.concat([ip6, payload]);
  const r = decodeTcpFrame(LinkType.RAW, frame);
  assert.equal(r.kind, "tcp");
  if (r.kind === "tcp") {
    assert.equal(r.segment.srcIp, "::1");
    assert.equal(r.segment.payload.toString(), "hello");
  }
  const fragment = Buffer.from([6, 0, 0x00, 0x09, 0, 0, 0, 1]); // offset 1, more fragments
  const fragIp = Buffer.from(ip6);
  fragIp[6] = 44;
  assert.deepEqual(decodeIp(Buffer.concat([fragIp, fragment, tcpHeader]), 0, 6), {
    kind: "skip",
    reason: "fragment",
  });
  const v4frag = Buffer.from(tcp);
  v4frag.writeUInt16BE(0x2000, 6); // more fragments
  assert.deepEqual(decodeIp(v4frag, 0, 4), { kind: "skip", reason: "fragment" });
  const addr = Buffer.from("20010db8000000000000000000000001", "hex");
  assert.equal(ipv6Address(addr, 0), "2001:db8::1");
});

test("a frame cut by the snap length reports the bytes it misses", () => {
  const r = decodeTcpFrame(LinkType.RAW, tcp.subarray(0, tcp.length - 2));
  assert.equal(r.kind, "tcp");
  if (r.kind === "tcp") assert.deepEqual([r.segment.payload.toString(), r.segment.missing], ["hel", 2]);
});

test("client handshake: user, database, attributes; an SSL request is recognised", () => {
  const caps =
    Capability.PROTOCOL_41 |
    Capability.SECURE_CONNECTION |
    Capability.CONNECT_WITH_DB |
    Capability.PLUGIN_AUTH |
    Capability.CONNECT_ATTRS |
    Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Capability.COMPRESS;
  const head = Buffer.alloc(32);
  head.writeUInt32LE(caps, 0);
  head.writeUInt32LE(1 << 24, 4);
  head[8] = 45;
  const attrs = Buffer.concat([
    encodeLenencInt(4),
    Buffer.from("_pid"),
    encodeLenencInt(2),
    Buffer.from("42"),
  ]);
  const body = Buffer.concat([
    head,
    Buffer.from("app\0"),
    encodeLenencInt(3),
    Buffer.from([1, 2, 3]),
    Buffer.from("shop\0mysql_native_password\0"),
    encodeLenencInt(attrs.length),
    attrs,
  ]);
  const hs = decodeClientHandshake(body);
  assert.deepEqual(
    [
      hs.user,
      hs.database,
      hs.authPlugin,
      hs.attributes,
      hs.sslRequest,
      hs.capabilities & Capability.COMPRESS,
    ],
    ["app", "shop", "mysql_native_password", { _pid: "42" }, false, Capability.COMPRESS],
  );
  const ssl = Buffer.from(head);
  ssl.writeUInt32LE(caps | Capability.SSL, 0);
  assert.equal(decodeClientHandshake(ssl).sslRequest, true);
  assert.throws(
    () => decodeClientHandshake(Buffer.concat([head, Buffer.from("no-terminator")])),
    (e: unknown) => isSluiceError(e) && e.code === "MYSQL_BAD_HANDSHAKE",
  );
});

test("COM_QUERY with query attributes (CLIENT_QUERY_ATTRIBUTES)", () => {
  const payload = Buffer.concat([
    Buffer.from([0x03]),
    encodeLenencInt(1), // parameter count
    encodeLenencInt(1), // parameter set count
    Buffer.from([0x00]), // null bitmap
    Buffer.from([0x01]), // new params bound
    Buffer.from([0xfe, 0x00]), // MYSQL_TYPE_STRING
    encodeLenencInt(7),
    Buffer.from("traceid"),
    encodeLenencInt(3),
    Buffer.from("abc"),
    Buffer.from("SELECT 1"),
  ]);
  const cmd = decodeCommand(payload, {
    capabilities: Capability.PROTOCOL_41 | CaptureCapability.QUERY_ATTRIBUTES,
    statements: new Map(),
  });
  assert.deepEqual(cmd, { kind: "query", sql: "SELECT 1", attributes: [{ name: "traceid", value: "abc" }] });
  // Without the capability the same bytes are plain SQL text.
  const plain = decodeCommand(Buffer.from("\x03SELECT 1", "latin1"), {
    capabilities: Capability.PROTOCOL_41,
    statements: new Map(),
  });
  assert.deepEqual(plain, { kind: "query", sql: "SELECT 1", attributes: undefined });
});

test("binary protocol values: integers, unsigned, temporal, NULL bitmap, types reused when not re-sent", () => {
  const r = (hex: string) => new ByteReader(Buffer.from(hex, "hex"));
  assert.equal(readBinaryValue(r("ff"), { type: 1, unsigned: false }), -1);
  assert.equal(readBinaryValue(r("ff"), { type: 1, unsigned: true }), 255);
  assert.equal(readBinaryValue(r("ffffffffffffffff"), { type: 8, unsigned: false }), -1);
  assert.equal(
    readBinaryValue(r("0be8070c1f173b3ba0860100"), { type: 12, unsigned: false }),
    "2024-12-31 23:59:59.100000",
  );
  assert.equal(readBinaryValue(r("04e8070c1f"), { type: 10, unsigned: false }), "2024-12-31");
  assert.equal(
    readBinaryValue(r("0801010000000203 04".replace(" ", "")), { type: 11, unsigned: false }),
    "-26:03:04",
  );
  assert.equal(readBinaryValue(r("0400ff0102"), { type: 252, unsigned: false }), "0x00ff0102");
  const values = readParamValues(
    r("0561626364650700"),
    [
      { type: 253, unsigned: false },
      { type: 3, unsigned: false },
      { type: 2, unsigned: false },
    ],
    Buffer.from([0b010]),
  );
  assert.deepEqual(values, ["abcde", null, 7]);

  const statements = new Map([[9, { paramCount: 1, paramTypes: undefined, longData: new Map() }]]);
  const ctx = { capabilities: Capability.PROTOCOL_41, statements };
  const first = decodeCommand(Buffer.from("17090000000001000000000103002a000000", "hex"), ctx);
  assert.deepEqual((first as { params: unknown }).params, [42]);
  statements.get(9)!.paramTypes = (first as unknown as { types: never }).types;
  const again = decodeCommand(Buffer.from("1709000000000100000000002b000000", "hex"), ctx);
  assert.deepEqual((again as { params: unknown }).params, [43]);
});

test("compressed protocol frames: zlib and stored chunks, split anywhere", () => {
  const packets = Buffer.concat([
    encodePacket(Buffer.from("\x03SELECT 1", "latin1"), 0),
    encodePacket(Buffer.from("\x0e"), 0),
  ]);
  const wire = Buffer.concat([
    encodeCompressedChunk(packets.subarray(0, 7), 0, (b) => deflateSync(b)),
    // A stored chunk: uncompressed length 0 means the body is the packets as they are.
    (() => {
      const body = packets.subarray(7);
      const h = Buffer.alloc(7);
      h.writeUIntLE(body.length, 0, 3);
      h[3] = 1;
      return Buffer.concat([h, body]);
    })(),
  ]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const out: Buffer[] = [];
    const p = new CompressedFrameParser((d) => out.push(Buffer.from(d)));
    p.push(wire.subarray(0, cut));
    p.push(wire.subarray(cut));
    assert.deepEqual(Buffer.concat(out), packets);
  }
  const bad = Buffer.from(wire);
  bad[8] = bad[8]! ^ 0xff;
  assert.throws(
    () => new CompressedFrameParser(() => {}).push(bad),
    (e: unknown) => isSluiceError(e),
  );
});

test("a TLS session is detected, counted and skipped", () => {
  const greeting = greetingPayload("10.11.0-MariaDB", 7);
  const ssl = Buffer.alloc(32);
  ssl.writeUInt32LE(Capability.PROTOCOL_41 | Capability.SSL | Capability.SECURE_CONNECTION, 0);
  const seg = (fromClient: boolean, seq: number, payload: Buffer, flags: number = TcpFlag.ACK) =>
    encodeIpv4Tcp({
      srcIp: fromClient ? "10.0.0.1" : "10.0.0.2",
      dstIp: fromClient ? "10.0.0.2" : "10.0.0.1",
      srcPort: fromClient ? 40000 : 3306,
      dstPort: fromClient ? 3306 : 40000,
      seq,
      ack: 0,
      flags,
      payload,
    });
  const frames = [
    seg(true, 99, Buffer.alloc(0), TcpFlag.SYN),
    seg(false, 499, Buffer.alloc(0), TcpFlag.SYN | TcpFlag.ACK),
    seg(false, 500, encodePacket(greeting, 0)),
    seg(true, 100, encodePacket(ssl, 1)),
    seg(true, 136, Buffer.from("160301020001000000", "hex")), // TLS ClientHello
    seg(false, 500 + greeting.length + 4, Buffer.from("1603030059020000", "hex")),
  ];
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e));
  for (const [i, data] of frames.entries())
    decoder.frame({
      linkType: LinkType.RAW,
      timestampUs: 1e15 + i,
      data,
      originalLength: data.length,
      interfaceId: 0,
      offset: 0,
    });
  decoder.finish();
  assert.equal(decoder.stats.tlsSessions, 1);
  assert.equal(decoder.stats.commands, 0);
  assert.equal(decoder.stats.decodeErrors, 0);
  const connect = events.find((e): e is ConnectEvent => e.type === "connect")!;
  assert.deepEqual([connect.tls, connect.serverVersion, connect.connectionId], [true, "10.11.0-MariaDB", 7]);
});

test("tcpdump statistics: the SIGUSR1 line and the exit summary", () => {
  assert.deepEqual(
    parseTcpdumpStats(
      "tcpdump: 14 packets captured, 28 packets received by filter, 3 packets dropped by kernel",
    ),
    {
      captured: 14,
      receivedByFilter: 28,
      droppedByKernel: 3,
    },
  );
  assert.deepEqual(
    parseTcpdumpStats(
      "14 packets captured\n28 packets received by filter\n0 packets dropped by kernel\n5 packets dropped by interface\n",
    ),
    { captured: 14, receivedByFilter: 28, droppedByKernel: 0, droppedByInterface: 5 },
  );
});

test("compressed protocol with zstd (MySQL's CLIENT_ZSTD_COMPRESSION_ALGORITHM)", () => {
  // `zstd -19` of one COM_QUERY packet ("\x03SELECT 1 + 1;"), made with the zstd CLI.
  const frame = Buffer.from("28b52ffd24129100000e0000000353454c4543542031202b20313b50eb9950", "hex");
  const plain = Buffer.from("0e0000000353454c4543542031202b20313b", "hex");
  const head = Buffer.alloc(7);
  head.writeUIntLE(frame.length, 0, 3);
  head.writeUIntLE(plain.length, 4, 3);
  const out: Buffer[] = [];
  new CompressedFrameParser((d) => out.push(Buffer.from(d)), "zstd").push(Buffer.concat([head, frame]));
  assert.deepEqual(Buffer.concat(out), plain);
  assert.throws(
    () => new CompressedFrameParser(() => {}, "zlib").push(Buffer.concat([head, frame])),
    (e: unknown) => isSluiceError(e) && e.code === "MYSQL_BAD_COMPRESSED",
  );
});
