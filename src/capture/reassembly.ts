import { TcpFlag } from "../codecs/net/tcp.ts";

/**
 * TCP reassembly for one direction of one connection: delivers the byte stream in order, once.
 *
 * - Retransmitted and overlapping data is trimmed to what was not delivered yet.
 * - Out-of-order segments wait (copied) until the hole before them fills.
 * - A hole is declared lost, and reported as a gap, when the peer acknowledges bytes the capture never
 *   saw (the receiver got them, the capture dropped them), when the snap length cut a segment, or when
 *   the waiting segments exceed the limit. The consumer resynchronises after a gap.
 * - A direction first seen mid-stream (no SYN) starts at the first segment it sees; `midStream` says so.
 */
export interface DirectionSink {
  data(payload: Buffer, timestampUs: number): void;
  gap(lostBytes: number, timestampUs: number): void;
}

export interface ReassemblyCounters {
  retransmittedSegments: number;
  outOfOrderSegments: number;
  gaps: number;
  lostBytes: number;
  /** Directions whose waiting segments exceeded the limit and were cut loose. */
  overflowResets: number;
}

export function newReassemblyCounters(): ReassemblyCounters {
  return { retransmittedSegments: 0, outOfOrderSegments: 0, gaps: 0, lostBytes: 0, overflowResets: 0 };
}

export interface ReassemblyLimits {
  /** Most bytes held out of order per direction before the hole is declared lost. Default 4 MiB. */
  maxPendingBytes: number;
  /** Most segments held out of order per direction. Default 1024. */
  maxPendingSegments: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxPendingBytes: 4 * 1024 * 1024,
  maxPendingSegments: 1024,
};

/** a - b in sequence space (mod 2^32), as a signed 32-bit number. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

interface PendingSegment {
  seq: number;
  payload: Buffer;
  timestampUs: number;
}

export class TcpDirection {
  /** Sequence number of the next byte to deliver; undefined before the first segment. */
  nextSeq: number | undefined;
  midStream = false;
  finSeen = false;
  /** Bytes delivered so far. */
  delivered = 0;
  private pending: PendingSegment[] = [];
  private pendingBytes = 0;
  private readonly sink: DirectionSink;
  private readonly counters: ReassemblyCounters;
  private readonly limits: ReassemblyLimits;

  constructor(
    sink: DirectionSink,
    counters: ReassemblyCounters,
    limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS,
  ) {
    this.sink = sink;
    this.counters = counters;
    this.limits = limits;
  }

  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** One segment sent in this direction. `missing`: bytes the snap length cut off its end. */
  segment(seq: number, flags: number, payload: Buffer, timestampUs: number, missing = 0): void {
    if (flags & TcpFlag.SYN) {
      this.nextSeq = (seq + 1) >>> 0;
      seq = this.nextSeq;
    } else if (this.nextSeq === undefined) {
      if (payload.length === 0 && missing === 0) {
        if (flags & TcpFlag.FIN) this.finSeen = true;
        return;
      }
      this.nextSeq = seq;
      this.midStream = true;
    }
    if (flags & TcpFlag.FIN) this.finSeen = true;
    if (payload.length > 0) this.accept(seq, payload, timestampUs);
    if (missing > 0) {
      const end = (seq + payload.length) >>> 0;
      // Only a cut at the in-order edge is a hole we know the size of now; others surface via acks.
      if (this.nextSeq === end) this.declareGap(missing, timestampUs);
    }
  }

  /** The peer acknowledged everything before `ack`: bytes of this direction before it that never came are lost. */
  acknowledged(ack: number, timestampUs: number): void {
    if (this.nextSeq === undefined) return;
    let ahead = seqDiff(ack, this.nextSeq);
    // The FIN takes one sequence number that carries no data.
    if (this.finSeen && ahead === 1) return;
    if (ahead <= 0 || ahead > 0x40000000) return;
    const first = this.pending[0];
    if (first) ahead = Math.min(ahead, seqDiff(first.seq, this.nextSeq));
    if (ahead > 0) this.declareGap(ahead, timestampUs);
  }

  /** At close: whatever still waits behind a hole is delivered after reporting the hole. */
  flush(timestampUs: number): void {
    while (this.pending.length > 0 && this.nextSeq !== undefined) {
      const first = this.pending[0]!;
      const hole = seqDiff(first.seq, this.nextSeq);
      if (hole > 0) this.declareGap(hole, timestampUs);
      else this.drain();
    }
  }

  private accept(seq: number, payload: Buffer, timestampUs: number): void {
    const next = this.nextSeq!;
    const rel = seqDiff(seq, next);
    if (rel + payload.length <= 0) {
      this.counters.retransmittedSegments++;
      return;
    }
    if (rel <= 0) {
      this.deliver(rel < 0 ? payload.subarray(-rel) : payload, timestampUs);
      this.drain();
      return;
    }
    this.counters.outOfOrderSegments++;
    const copy: PendingSegment = { seq, payload: Buffer.from(payload), timestampUs };
    let i = this.pending.length;
    while (i > 0 && seqDiff(this.pending[i - 1]!.seq, seq) > 0) i--;
    this.pending.splice(i, 0, copy);
    this.pendingBytes += payload.length;
    if (
      this.pendingBytes > this.limits.maxPendingBytes ||
      this.pending.length > this.limits.maxPendingSegments
    ) {
      this.counters.overflowResets++;
      this.declareGap(seqDiff(this.pending[0]!.seq, next), timestampUs);
    }
  }

  private deliver(payload: Buffer, timestampUs: number): void {
    this.nextSeq = (this.nextSeq! + payload.length) >>> 0;
    this.delivered += payload.length;
    this.sink.data(payload, timestampUs);
  }

  /** Delivers the waiting segments that the stream has now reached. */
  private drain(): void {
    while (this.pending.length > 0) {
      const first = this.pending[0]!;
      const rel = seqDiff(first.seq, this.nextSeq!);
      if (rel > 0) return;
      this.pending.shift();
      this.pendingBytes -= first.payload.length;
      if (rel + first.payload.length <= 0) {
        this.counters.retransmittedSegments++;
        continue;
      }
      this.deliver(first.payload.subarray(-rel), first.timestampUs);
    }
  }

  private declareGap(lost: number, timestampUs: number): void {
    this.counters.gaps++;
    this.counters.lostBytes += lost;
    this.nextSeq = (this.nextSeq! + lost) >>> 0;
    this.sink.gap(lost, timestampUs);
    this.drain();
  }
}
