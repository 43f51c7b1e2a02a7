import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CaptureDecoder,
  type CaptureDecoderOptions,
  type CaptureStats,
} from "../../../src/capture/decoder.ts";
import type { SessionEvent } from "../../../src/capture/events.ts";
import { LinkType } from "../../../src/codecs/net/link.ts";
import { decodeTcpFrame, encodeIpv4Tcp, type TcpSegment } from "../../../src/codecs/net/tcp.ts";
import { CaptureFileParser } from "../../../src/codecs/pcap/reader.ts";
import type { CapturedFrame } from "../../../src/codecs/pcap/record.ts";

/** The sandbox port the committed fixtures were captured against (see test/fixtures/pcap/README.md). */
export const FIXTURE_PORT = 44991;

export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../fixtures/pcap/${name}`, import.meta.url));
}

/** All frames of a fixture, each with its own copy of the data. */
export function readFrames(name: string): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  const parser = new CaptureFileParser((f) => frames.push({ ...f, data: Buffer.from(f.data) }), {
    file: name,
  });
  parser.push(readFileSync(fixturePath(name)));
  parser.end();
  return frames;
}

export function decodeFrames(
  frames: Iterable<CapturedFrame>,
  options: CaptureDecoderOptions = { serverPorts: [FIXTURE_PORT] },
): { events: SessionEvent[]; stats: CaptureStats } {
  const events: SessionEvent[] = [];
  const decoder = new CaptureDecoder((e) => events.push(e), options);
  for (const f of frames) decoder.frame(f);
  decoder.finish();
  return { events, stats: decoder.stats };
}

export function decodeFixture(name: string): { events: SessionEvent[]; stats: CaptureStats } {
  return decodeFrames(readFrames(name));
}

export interface TimedSegment {
  segment: TcpSegment;
  ts: number;
}

export function segmentsOf(frames: CapturedFrame[]): TimedSegment[] {
  const out: TimedSegment[] = [];
  for (const f of frames) {
    const r = decodeTcpFrame(f.linkType, f.data);
    if (r.kind === "tcp")
      out.push({ segment: { ...r.segment, payload: Buffer.from(r.segment.payload) }, ts: f.timestampUs });
  }
  return out;
}

/** Raw-IP frames for synthetic segments. */
export function framesOf(segments: TimedSegment[]): CapturedFrame[] {
  return segments.map(({ segment, ts }, i) => {
    const data = encodeIpv4Tcp(segment);
    return {
      linkType: LinkType.RAW,
      timestampUs: ts,
      data,
      originalLength: data.length,
      interfaceId: 0,
      offset: i,
    };
  });
}

/**
 * Re-cuts every data segment into pieces of at most `size` bytes (same sequence numbers, same
 * timestamps): the byte streams are unchanged, the packet boundaries fall everywhere.
 */
export function resegment(segments: TimedSegment[], size: number): TimedSegment[] {
  const out: TimedSegment[] = [];
  for (const t of segments) {
    const p = t.segment.payload;
    if (p.length <= size) {
      out.push(t);
      continue;
    }
    for (let off = 0; off < p.length; off += size) {
      const last = off + size >= p.length;
      out.push({
        ts: t.ts,
        segment: {
          ...t.segment,
          seq: (t.segment.seq + off) >>> 0,
          // Only the last piece keeps FIN.
          flags: last ? t.segment.flags : t.segment.flags & ~0x01,
          payload: p.subarray(off, Math.min(p.length, off + size)),
        },
      });
    }
  }
  return out;
}

/** Events without what differs between captures of the same conversation (times, ports, ids). */
export function comparable(events: SessionEvent[]): unknown[] {
  return events.map((e) => {
    const { ts: _ts, ...rest } = e as SessionEvent & {
      latencyUs?: number;
      client?: string;
      connectionId?: number;
    };
    const r = rest as Record<string, unknown>;
    delete r.latencyUs;
    delete r.client;
    delete r.connectionId;
    delete r.statementId;
    return r;
  });
}

/** A protocol-10 server greeting (all capabilities of the low word, mysql_native_password). */
export function greetingPayload(serverVersion: string, connectionId: number): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32LE(connectionId);
  return Buffer.concat([
    Buffer.from([10]),
    Buffer.from(`${serverVersion}\0`),
    id,
    Buffer.alloc(8, 0x41),
    Buffer.from([0]),
    Buffer.from([0xff, 0xff]),
    Buffer.from([45, 2, 0, 0xff, 0x81, 21]),
    Buffer.alloc(10),
    Buffer.alloc(13, 0x42),
    Buffer.from("mysql_native_password\0"),
  ]);
}
