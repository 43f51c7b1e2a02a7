import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CaptureDecoder } from "../../../src/capture/decoder.ts";
import type { CommandEvent, ConnectEvent, SessionEvent } from "../../../src/capture/events.ts";
import { encodePacket } from "../../../src/codecs/mysql/packet.ts";
import { TcpFlag } from "../../../src/codecs/net/tcp.ts";
import {
  comparable,
  decodeFixture,
  decodeFrames,
  FIXTURE_PORT,
  framesOf,
  greetingPayload,
  readFrames,
  resegment,
  segmentsOf,
  type TimedSegment,
} from "./helpers.ts";

const sqlOf = (events: SessionEvent[]) =>
  events.filter((e): e is CommandEvent => e.type === "command").map((c) => c.sql ?? c.kind);

for (const name of ["cli.pcap", "ps.pcap", "compressed.pcap"]) {
  test(`${name}: segments cut at every size from 1 to 48 bytes decode to the same events`, () => {
    const reference = decodeFixture(name).events;
    const segments = segmentsOf(readFrames(name));
    for (let size = 1; size <= 48; size++) {
      const { events, stats } = decodeFrames(framesOf(resegment(segments, size)));
      assert.equal(stats.resyncs, 0, `size ${size}`);
      assert.deepEqual(events, reference, `size ${size}`);
    }
  });
}

test("retransmitted and overlapping segments are delivered once", () => {
  const segments = segmentsOf(readFrames("ps.pcap"));
  const withDuplicates: TimedSegment[] = [];
  for (const s of segments) {
    withDuplicates.push(s);
    if (s.segment.payload.length > 2) {
      withDuplicates.push(s);
      // An overlapping retransmission: the second half again, as its own segment.
      const half = s.segment.payload.length >> 1;
      withDuplicates.push({
        ts: s.ts,
        segment: {
          ...s.segment,
          seq: (s.segment.seq + half) >>> 0,
          payload: s.segment.payload.subarray(half),
        },
      });
    }
  }
  const { events, stats } = decodeFrames(framesOf(withDuplicates));
  assert.ok(stats.retransmittedSegments > 0);
  assert.deepEqual(comparable(events), comparable(decodeFixture("ps.pcap").events));
});

test("out-of-order segments wait for the hole to fill", () => {
  const segments = resegment(segmentsOf(readFrames("cli.pcap")), 10);
  // Swap each pair of consecutive data segments that go the same way.
  const swapped = [...segments];
  for (let i = 0; i + 1 < swapped.length; i += 2) {
    const a = swapped[i]!;
    const b = swapped[i + 1]!;
    if (a.segment.srcPort === b.segment.srcPort && a.segment.payload.length && b.segment.payload.length) {
      swapped[i] = b;
      swapped[i + 1] = a;
    }
  }
  const { events, stats } = decodeFrames(framesOf(swapped));
  assert.ok(stats.outOfOrderSegments > 0);
  assert.equal(stats.gaps, 0);
  assert.deepEqual(comparable(events), comparable(decodeFixture("cli.pcap").events));
});

test("a lost client segment: the session is marked, resynchronises, and the commands after it decode", () => {
  const segments = segmentsOf(readFrames("cli.pcap"));
  const reference = sqlOf(decodeFixture("cli.pcap").events);
  const lost = segments.findIndex((s) => s.segment.payload.toString("latin1").includes("UPDATE t SET"));
  assert.ok(lost > 0);
  const { events, stats } = decodeFrames(framesOf(segments.filter((_, i) => i !== lost)));
  assert.equal(stats.gaps, 1);
  assert.ok(events.some((e) => e.type === "resync" && e.reason === "gap"));
  const got = sqlOf(events);
  assert.deepEqual(
    got,
    reference.filter((s) => !s.startsWith("UPDATE t SET")),
  );
});

test("a lost server segment: the pending response is dropped, the next command pairs with its own response", () => {
  const segments = segmentsOf(readFrames("cli.pcap"));
  const lost = segments.findIndex(
    (s) =>
      s.segment.srcPort === FIXTURE_PORT && s.segment.payload.toString("latin1").includes("no_such_table"),
  );
  const { events, stats } = decodeFrames(framesOf(segments.filter((_, i) => i !== lost)));
  assert.equal(stats.gaps, 1);
  const cmds = events.filter((e): e is CommandEvent => e.type === "command");
  const deleteCmd = cmds.find((c) => c.sql === "DELETE FROM t WHERE id = 2")!;
  const deleteResp = events.find((e) => e.type === "response" && e.seq === deleteCmd.seq);
  assert.equal((deleteResp as { affectedRows: number }).affectedRows, 1);
  assert.ok(!events.some((e) => e.type === "response" && e.errno === 1146));
});

test("a capture that starts mid-connection resynchronises at the next command", () => {
  const segments = segmentsOf(readFrames("ps.pcap"));
  // Start after the first prepare: the INSERT statement's id was never seen.
  const start =
    segments.findIndex((s) => s.segment.payload.toString("latin1").includes("INSERT INTO ps")) + 2;
  const { events, stats } = decodeFrames(framesOf(segments.slice(start)));
  const connect = events.find((e) => e.type === "connect") as ConnectEvent;
  assert.equal(connect.midStream, true);
  assert.equal(connect.user, undefined);
  assert.ok(stats.unknownStatements >= 1);
  const sql = sqlOf(events);
  assert.ok(sql.includes("SELECT id, name FROM ps WHERE id >= ? ORDER BY id"));
  assert.ok(sql.includes("SELECT 1; SELECT 2"));
  // The statement prepared after the start is decoded fully.
  const exec = events.find((e): e is CommandEvent => e.type === "command" && e.params?.[0] === 2);
  assert.ok(exec);
});

test("compressed sessions: picked up mid-stream, and after a lost segment, at the next command", () => {
  const segments = segmentsOf(readFrames("compressed.pcap"));
  const reference = sqlOf(decodeFixture("compressed.pcap").events);
  // Start after the handshake and the first commands, at a compressed chunk's header (mysql2 writes
  // the 7-byte header and the body as two segments).
  const start = segments.findIndex(
    (s, i) => i > 12 && s.segment.dstPort === FIXTURE_PORT && s.segment.payload.length === 7,
  );
  const { events } = decodeFrames(framesOf(segments.slice(start)));
  const connect = events.find((e): e is ConnectEvent => e.type === "connect")!;
  assert.deepEqual([connect.midStream, connect.compressed], [true, true]);
  const got = sqlOf(events);
  assert.ok(got.length >= 5);
  assert.deepEqual(got, reference.slice(reference.length - got.length));

  // Lose one client segment in the middle: the commands after it still decode.
  const clientData = segments
    .map((s, i) => [s, i] as const)
    .filter(([s]) => s.segment.dstPort === FIXTURE_PORT && s.segment.payload.length > 0);
  const lost = clientData[Math.floor(clientData.length / 2)]![1];
  const after = decodeFrames(framesOf(segments.filter((_, i) => i !== lost)));
  assert.equal(after.stats.gaps, 1);
  const afterSql = sqlOf(after.events);
  assert.equal(afterSql.length, reference.length - 1);
  assert.deepEqual(afterSql.slice(-3), reference.slice(-3));
});

/** A mid-stream conversation built by hand: client and server payloads in order. */
function conversation(turns: [Buffer, Buffer][], segmentSize = 32768): TimedSegment[] {
  const out: TimedSegment[] = [];
  let cseq = 1000;
  let sseq = 5000;
  let ts = 1_700_000_000_000_000;
  const base = {
    srcIp: "10.0.0.1",
    dstIp: "10.0.0.2",
    srcPort: 40000,
    dstPort: 3306,
    ack: 0,
    flags: TcpFlag.ACK,
    missing: 0,
    vlan: undefined,
  };
  for (const [request, response] of turns) {
    for (let off = 0; off < request.length; off += segmentSize) {
      const payload = request.subarray(off, off + segmentSize);
      out.push({ ts: ts++, segment: { ...base, seq: cseq, ack: sseq, payload } });
      cseq = (cseq + payload.length) >>> 0;
    }
    for (let off = 0; off < response.length; off += segmentSize) {
      const payload = response.subarray(off, off + segmentSize);
      out.push({
        ts: ts++,
        segment: {
          ...base,
          srcIp: base.dstIp,
          dstIp: base.srcIp,
          srcPort: 3306,
          dstPort: 40000,
          seq: sseq,
          ack: cseq,
          payload,
        },
      });
      sseq = (sseq + payload.length) >>> 0;
    }
  }
  return out;
}

const query = (sql: string | Buffer) =>
  encodePacket(Buffer.concat([Buffer.from([3]), typeof sql === "string" ? Buffer.from(sql) : sql]), 0);
const ok = (affected = 0) => encodePacket(Buffer.from([0, affected, 0, 2, 0, 0, 0]), 1);

test("payloads of 16 MB and more (several wire packets) decode, and the conversation goes on", () => {
  const big = Buffer.alloc(17 * 1024 * 1024, "x");
  big.write("INSERT INTO t VALUES ('", 0);
  const segments = conversation([
    [query("SELECT 1"), ok()],
    [query(big), ok(1)],
    [query("SELECT 2"), ok()],
  ]);
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e));
  for (const f of framesOf(segments)) decoder.frame(f);
  decoder.finish();
  const cmds = events.filter((e): e is CommandEvent => e.type === "command");
  // Mid-stream: the first segment that starts with a command is where decoding finds its footing.
  assert.deepEqual(
    cmds.map((c) => c.sql?.slice(0, 26)),
    ["SELECT 1", "INSERT INTO t VALUES ('xxx", "SELECT 2"],
  );
  // SQL text in events is clipped to 1 MiB.
  assert.ok(cmds[1]!.sql!.length <= 1024 * 1024 + 3);
  assert.equal(events.filter((e) => e.type === "response" && e.affectedRows === 1).length, 1);
});

test("a direction that buffers more than the limit is reset and counted, memory stays bounded", () => {
  const segments = conversation([[query("SELECT 1"), ok()]]);
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e), {
    reassembly: { maxPendingBytes: 10_000, maxPendingSegments: 1024 },
  });
  for (const f of framesOf(segments)) decoder.frame(f);
  // Far-ahead segments with a hole before them that never fills.
  const first = segments[0]!.segment;
  for (let i = 0; i < 50; i++) {
    const frame = framesOf([
      {
        ts: 1_700_000_001_000_000 + i,
        segment: { ...first, seq: first.seq + 100_000 + i * 1000, payload: Buffer.alloc(1000, 1) },
      },
    ])[0]!;
    decoder.frame(frame);
    assert.ok(decoder.bufferedBytes <= 11_000);
  }
  assert.ok(decoder.stats.overflowResets > 0);
  decoder.finish();
});

test("fuzzed TCP payloads: nothing throws, buffers stay bounded, every session closes", () => {
  const segments = segmentsOf(readFrames("ps.pcap"));
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 30,
      }),
      fc.array(fc.nat(), { maxLength: 5 }),
      (flips, drops) => {
        const mutated = segments.map((s) => ({
          ...s,
          segment: { ...s.segment, payload: Buffer.from(s.segment.payload) },
        }));
        for (const [i, at, value] of flips) {
          const p = mutated[i % mutated.length]!.segment.payload;
          if (p.length > 0) p[at % p.length] = value;
        }
        const kept = mutated.filter((_, i) => !drops.some((d) => d % mutated.length === i));
        const events: SessionEvent[] = [];
        const decoder = new CaptureDecoder((e) => events.push(e), {
          serverPorts: [FIXTURE_PORT],
          maxPayloadLength: 1 << 20,
        });
        for (const f of framesOf(kept)) {
          decoder.frame(f);
          assert.ok(decoder.bufferedBytes < 8 * (1 << 20));
        }
        decoder.finish();
        assert.equal(decoder.stats.sessionsOpen, 0);
        const opened = new Set(events.filter((e) => e.type !== "close").map((e) => e.session));
        const closed = new Set(events.filter((e) => e.type === "close").map((e) => e.session));
        for (const s of opened) assert.ok(closed.has(s));
      },
    ),
    { numRuns: 300 },
  );
});

test("commands that never get a response do not pile up: the session resynchronises", () => {
  const ping = encodePacket(Buffer.from([0x0e]), 0);
  const turns: [Buffer, Buffer][] = Array.from({ length: 2000 }, () => [ping, Buffer.alloc(0)]);
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e));
  for (const f of framesOf(conversation(turns))) decoder.frame(f);
  decoder.finish();
  assert.ok(events.some((e) => e.type === "resync" && e.reason === "overflow"));
});

function run(segments: TimedSegment[], options = {}): { events: SessionEvent[]; decoder: CaptureDecoder } {
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e), options);
  for (const f of framesOf(segments)) decoder.frame(f);
  decoder.finish();
  return { events, decoder };
}

test("COM_STMT_SEND_LONG_DATA values are spliced into the execute; COM_FIELD_LIST is answered by definitions and EOF", () => {
  const cmd = (hex: string, tail = Buffer.alloc(0)) =>
    encodePacket(Buffer.concat([Buffer.from(hex, "hex"), tail]), 0);
  const eof = (seq: number) => encodePacket(Buffer.from("fe00000200", "hex"), seq);
  const columnDef = (seq: number) =>
    encodePacket(Buffer.from("0364656604736c6963017401740161016100", "hex"), seq);
  // stmt 5: one parameter, no columns.
  const prepareOk = Buffer.concat([
    encodePacket(Buffer.from("00050000000000010000000000", "hex"), 1),
    columnDef(2),
    eof(3),
  ]);
  const { events } = run(
    conversation([
      [query("SELECT 1"), ok()],
      [cmd("16", Buffer.from("INSERT INTO t (b) VALUES (?)")), prepareOk],
      [cmd("18050000000000", Buffer.from("hello ")), Buffer.alloc(0)],
      [cmd("18050000000000", Buffer.from("world")), Buffer.alloc(0)],
      // execute stmt 5, flags 0, iterations 1, null bitmap 0, bound 1, type BLOB (0xfc); no value: long data.
      [cmd("170500000000010000000001fc00"), ok(1)],
      [cmd("04", Buffer.from("t\0")), Buffer.concat([columnDef(1), columnDef(2), eof(3)])],
      [query("SELECT 2"), ok()],
    ]),
  );
  const commands = events.filter((e): e is CommandEvent => e.type === "command");
  assert.deepEqual(
    commands.map((c) => c.kind),
    [
      "query",
      "stmt_prepare",
      "stmt_send_long_data",
      "stmt_send_long_data",
      "stmt_execute",
      "field_list",
      "query",
    ],
  );
  assert.deepEqual(commands[4]!.params, ["hello world"]);
  const fieldList = events.find((e) => e.type === "response" && e.kind === "field_list");
  assert.equal((fieldList as { columns: number }).columns, 2);
  assert.ok(events.some((e) => e.type === "response" && e.seq === commands[6]!.seq));
});

test("a payload longer than the limit resynchronises the session (overflow), and decoding goes on", () => {
  const huge = Buffer.alloc(4);
  huge.writeUIntLE(0xfffff0, 0, 3); // a 16 MB packet header, then nothing like it
  const { events, decoder } = run(
    conversation([
      [query("SELECT 1"), ok()],
      [Buffer.concat([huge, Buffer.from([3])]), Buffer.alloc(0)],
      [query("SELECT 2"), ok()],
    ]),
    { maxPayloadLength: 1 << 20 },
  );
  assert.ok(events.some((e) => e.type === "resync" && e.reason === "overflow"));
  assert.ok(decoder.stats.decodeErrors >= 1);
  assert.ok(events.some((e) => e.type === "command" && e.sql === "SELECT 2"));
});

test("RST closes a session, and an idle one is closed after the idle timeout (capture time)", () => {
  const segments = conversation([[query("SELECT 1"), ok()]]);
  const last = segments.at(-1)!;
  const rst: TimedSegment = {
    ts: last.ts + 10,
    segment: { ...segments[0]!.segment, seq: 0, payload: Buffer.alloc(0), flags: TcpFlag.RST },
  };
  const a = run([...segments, rst]);
  assert.equal((a.events.at(-1) as { reason: string }).reason, "rst");

  // Another connection's traffic 20 minutes later moves the capture clock past the idle timeout.
  const later = conversation([[query("SELECT 2"), ok()]]).map((s) => ({
    ts: s.ts + 20 * 60 * 1e6,
    segment: {
      ...s.segment,
      srcPort: s.segment.srcPort === 3306 ? 3306 : 40001,
      dstPort: s.segment.dstPort === 3306 ? 3306 : 40001,
    },
  }));
  const b = run([...segments, ...later], { idleTimeoutUs: 60 * 1e6 });
  const closes = b.events.filter((e) => e.type === "close");
  assert.deepEqual(
    closes.map((e) => [e.session, e.reason]),
    [
      [1, "idle"],
      [2, "end"],
    ],
  );
});

test("CLIENT_DEPRECATE_EOF negotiated: result sets end with an OK (0xFE), prepares send no EOFs", () => {
  const greeting = greetingPayload("11.4.0-MariaDB", 9);
  const caps = 0x200 | 0x8000 | 0x80000 | 0x1000000 | 0x8; // PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, DEPRECATE_EOF, CONNECT_WITH_DB
  const response = Buffer.alloc(32);
  response.writeUInt32LE(caps, 0);
  const handshake = Buffer.concat([
    response,
    Buffer.from("app\0"),
    Buffer.from([0]),
    Buffer.from("shop\0mysql_native_password\0"),
  ]);
  const okAuth = encodePacket(Buffer.from("00000002000000", "hex"), 2);
  const columnDef = (seq: number) =>
    encodePacket(Buffer.from("0364656604736c6963017401740161016100", "hex"), seq);
  const row = (seq: number) => encodePacket(Buffer.from("0161", "hex"), seq);
  const terminator = (seq: number) => encodePacket(Buffer.from("fe000002000000", "hex"), seq);
  const colCount = encodePacket(Buffer.from([1]), 1);
  const prepareOk = encodePacket(Buffer.from("00070000000100010000000000", "hex"), 1);
  // Handshake first (the greeting goes server -> client before anything else).
  const segments = conversation([
    [Buffer.alloc(0), encodePacket(greeting, 0)],
    [encodePacket(handshake, 1), okAuth],
    [query("SELECT a FROM t"), Buffer.concat([colCount, columnDef(2), row(3), row(4), terminator(5)])],
    [query("SELECT a FROM t WHERE 0"), Buffer.concat([colCount, columnDef(2), terminator(3)])],
    [
      encodePacket(Buffer.from("\x16SELECT ?", "latin1"), 0),
      Buffer.concat([prepareOk, columnDef(2), columnDef(3)]),
    ],
    [query("SELECT 1"), ok()],
  ]).filter((s) => s.segment.payload.length > 0);
  // A SYN first, so the handshake is followed from its start.
  const syn: TimedSegment = {
    ts: segments[0]!.ts - 1,
    segment: { ...segments[1]!.segment, seq: 999, payload: Buffer.alloc(0), flags: TcpFlag.SYN },
  };
  const { events, decoder } = run([syn, ...segments]);
  assert.equal(decoder.stats.decodeErrors, 0);
  const connect = events.find((e): e is ConnectEvent => e.type === "connect")!;
  assert.deepEqual([connect.user, connect.db, connect.midStream], ["app", "shop", false]);
  const responses = events.filter((e) => e.type === "response");
  assert.deepEqual(
    responses.map((r) => [r.kind, r.columns, r.rows, r.statementId ?? null]),
    [
      ["query", 1, 2, null],
      ["query", 1, 0, null],
      ["stmt_prepare", 1, 0, 7],
      ["query", 0, 0, null],
    ],
  );
});

test("any reordering of segments within a direction's run decodes to the same events (fast-check)", () => {
  const base = resegment(segmentsOf(readFrames("ps.pcap")), 16);
  const reference = comparable(decodeFrames(framesOf(base)).events);
  // Runs of consecutive segments going the same way: a reordering inside a run is what a network does.
  const runs: TimedSegment[][] = [];
  for (const s of base) {
    const last = runs.at(-1);
    if (last && last[0]!.segment.srcPort === s.segment.srcPort) last.push(s);
    else runs.push([s]);
  }
  let reordered = 0;
  fc.assert(
    fc.property(fc.array(fc.nat(), { minLength: runs.length, maxLength: runs.length }), (seeds) => {
      const shuffled = runs.flatMap((run, i) => {
        const copy = [...run];
        let seed = seeds[i]!;
        for (let j = copy.length - 1; j > 0; j--) {
          const k = seed % (j + 1);
          seed = Math.floor(seed / (j + 1)) + 7 * j;
          [copy[j], copy[k]] = [copy[k]!, copy[j]!];
        }
        return copy;
      });
      const { events, stats } = decodeFrames(framesOf(shuffled));
      assert.equal(stats.gaps, 0);
      assert.deepEqual(comparable(events), reference);
      reordered += stats.outOfOrderSegments;
    }),
    { numRuns: 60 },
  );
  assert.ok(reordered > 0);
});

test("MariaDB cached metadata: a result set whose column definitions are skipped still counts its rows", () => {
  const row = (seq: number) => encodePacket(Buffer.from("00000161", "hex"), seq); // binary row
  const eof = (seq: number) => encodePacket(Buffer.from("fe00000200", "hex"), seq);
  const { events } = run(
    conversation([
      [query("SELECT 1"), ok()],
      // Column count 2, metadata follows = 0 (as libmariadb negotiates it): the EOF that ends the
      // skipped definitions, then the rows.
      [
        encodePacket(Buffer.from("170100000000010000000000", "hex"), 0),
        Buffer.concat([encodePacket(Buffer.from([2, 0]), 1), eof(2), row(3), eof(4)]),
      ],
      // The same with no rows: two EOFs in a row.
      [
        encodePacket(Buffer.from("170100000000010000000000", "hex"), 0),
        Buffer.concat([encodePacket(Buffer.from([2, 0]), 1), eof(2), eof(3)]),
      ],
      [query("SELECT 2"), ok()],
    ]),
  );
  const responses = events.filter((e) => e.type === "response");
  assert.deepEqual(
    responses.map((r) => [r.kind, r.columns, r.rows]),
    [
      ["query", 0, 0],
      ["stmt_execute", 2, 1],
      ["stmt_execute", 2, 0],
      ["query", 0, 0],
    ],
  );
});

test("MariaDB progress reports (ERR 0xFFFF) inside a response do not end it", () => {
  // ERR 0xFFFF | stage 1 | max stage 1 | progress 50.000% (u24, thousandths) | lenenc "copy to tmp table"
  const progress = encodePacket(
    Buffer.concat([
      Buffer.from("ffffff0101", "hex"),
      Buffer.from([0x50, 0xc3, 0x00]),
      Buffer.from([17]),
      Buffer.from("copy to tmp table"),
    ]),
    1,
  );
  const done = encodePacket(Buffer.from([0, 5, 0, 2, 0, 0, 0]), 2);
  const { events } = run(
    conversation([
      [query("SELECT 1"), ok()],
      [query("ALTER TABLE t ADD c INT"), Buffer.concat([progress, done])],
      [query("SELECT 2"), ok()],
    ]),
  );
  const alter = events.find((e) => e.type === "response" && e.seq === 2);
  assert.deepEqual(
    [alter?.type === "response" && alter.ok, alter?.type === "response" && alter.affectedRows],
    [true, 5],
  );
  assert.equal(events.filter((e) => e.type === "response").length, 3);
});
