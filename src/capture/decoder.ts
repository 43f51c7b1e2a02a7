import { decodeTcpFrame, type SkipReason, TcpFlag, type TcpSegment } from "../codecs/net/tcp.ts";
import type { CapturedFrame } from "../codecs/pcap/record.ts";
import type { CloseEvent, SessionEvent } from "./events.ts";
import {
  type KnownSession,
  MysqlSession,
  newSessionCounters,
  type SessionCounters,
} from "./mysql-session.ts";
import {
  DEFAULT_REASSEMBLY_LIMITS,
  newReassemblyCounters,
  type ReassemblyCounters,
  type ReassemblyLimits,
  TcpDirection,
} from "./reassembly.ts";

/**
 * From captured frames to session events: picks out the TCP segments of MySQL connections, reassembles
 * each direction, and feeds a MysqlSession per connection. Pure of I/O and of the wall clock: time is
 * the capture's own (frame timestamps), so a pcap file decodes the same every time.
 */
export interface CaptureDecoderOptions {
  /** Ports MySQL servers listen on. Default [3306]. An empty list: the side that answered SYN, else the lower port. */
  serverPorts?: number[];
  /** A connection with no packet for this long (capture time) is closed as idle. Default 10 min. */
  idleTimeoutUs?: number;
  /** Most connections followed at once; the least recently active is evicted beyond it. Default 100,000. */
  maxSessions?: number;
  reassembly?: ReassemblyLimits;
  maxPayloadLength?: number;
  /**
   * Connections open before the capture started, by client endpoint ("ip:port"), with their user and
   * database (from the server's processlist): a session picked up mid-stream starts with them.
   */
  knownSessions?: ReadonlyMap<string, KnownSession>;
}

export interface CaptureStats extends ReassemblyCounters, SessionCounters {
  frames: number;
  bytes: number;
  tcpSegments: number;
  skipped: Partial<Record<SkipReason | "not-mysql", number>>;
  sessionsNew: number;
  sessionsClosed: number;
  sessionsOpen: number;
  /** Sessions evicted because maxSessions was reached. */
  sessionsEvicted: number;
  firstTs: number | undefined;
  lastTs: number | undefined;
}

interface Connection {
  key: string;
  reverseKey: string;
  session: MysqlSession;
  client: TcpDirection;
  server: TcpDirection;
  clientFin: boolean;
  serverFin: boolean;
  lastTs: number;
  closed: boolean;
}

function endpoint(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export class CaptureDecoder {
  readonly stats: CaptureStats;
  private readonly onEvent: (e: SessionEvent) => void;
  private readonly serverPorts: Set<number>;
  private readonly idleTimeoutUs: number;
  private readonly maxSessions: number;
  private readonly limits: ReassemblyLimits;
  private readonly maxPayloadLength: number;
  private readonly knownSessions: ReadonlyMap<string, KnownSession> | undefined;
  /** Both directions' keys ("src>dst") map to the connection; insertion order = least recently created first. */
  private readonly connections = new Map<string, Connection>();
  private nextSessionId = 1;
  private lastSweepTs = 0;

  constructor(onEvent: (e: SessionEvent) => void, options: CaptureDecoderOptions = {}) {
    this.onEvent = onEvent;
    this.serverPorts = new Set(options.serverPorts ?? [3306]);
    this.idleTimeoutUs = options.idleTimeoutUs ?? 10 * 60 * 1e6;
    this.maxSessions = options.maxSessions ?? 100_000;
    this.limits = options.reassembly ?? DEFAULT_REASSEMBLY_LIMITS;
    this.maxPayloadLength = options.maxPayloadLength ?? 64 * 1024 * 1024;
    this.knownSessions = options.knownSessions;
    this.stats = {
      ...newReassemblyCounters(),
      ...newSessionCounters(),
      frames: 0,
      bytes: 0,
      tcpSegments: 0,
      skipped: {},
      sessionsNew: 0,
      sessionsClosed: 0,
      sessionsOpen: 0,
      sessionsEvicted: 0,
      firstTs: undefined,
      lastTs: undefined,
    };
  }

  /** Bytes held for all open connections (out-of-order segments and partial packets). */
  get bufferedBytes(): number {
    let n = 0;
    for (const [key, c] of this.connections) {
      if (key !== c.key) continue;
      n += c.client.bufferedBytes + c.server.bufferedBytes + c.session.bufferedBytes;
    }
    return n;
  }

  frame(frame: CapturedFrame): void {
    this.stats.frames++;
    this.stats.bytes += frame.originalLength;
    const ts = frame.timestampUs;
    this.stats.firstTs ??= ts;
    this.stats.lastTs = ts;
    const r = decodeTcpFrame(frame.linkType, frame.data);
    if (r.kind === "skip") {
      this.stats.skipped[r.reason] = (this.stats.skipped[r.reason] ?? 0) + 1;
      return;
    }
    this.stats.tcpSegments++;
    this.segment(r.segment, ts);
    if (ts - this.lastSweepTs > 1e6) {
      this.lastSweepTs = ts;
      this.sweepIdle(ts);
    }
  }

  /** End of input: every open connection is flushed and closed. */
  finish(ts = this.stats.lastTs ?? 0): void {
    for (const [key, c] of [...this.connections]) if (key === c.key) this.close(c, ts, "end");
  }

  /** Closes connections idle for longer than the timeout at capture time `now` (live capture calls this on a timer). */
  sweepIdle(now: number): void {
    for (const [key, c] of [...this.connections]) {
      if (key === c.key && now - c.lastTs > this.idleTimeoutUs) this.close(c, now, "idle");
    }
  }

  private segment(s: TcpSegment, ts: number): void {
    const src = endpoint(s.srcIp, s.srcPort);
    const dst = endpoint(s.dstIp, s.dstPort);
    const key = `${src}>${dst}`;
    let c = this.connections.get(key);
    const isSyn = (s.flags & TcpFlag.SYN) !== 0 && (s.flags & TcpFlag.ACK) === 0;
    if (
      c &&
      isSyn &&
      c.key === key &&
      (c.clientFin || c.serverFin || c.client.nextSeq !== (s.seq + 1) >>> 0)
    ) {
      // The 4-tuple is reused by a new connection.
      this.close(c, ts, "fin");
      c = undefined;
    }
    if (!c) {
      const fromClient = this.isFromClient(s);
      if (fromClient === undefined) {
        this.stats.skipped["not-mysql"] = (this.stats.skipped["not-mysql"] ?? 0) + 1;
        return;
      }
      // A connection first seen by anything but its SYN (or the SYN-ACK) was open before the capture;
      // it is followed from its first data (a bare ACK or FIN after a close opens nothing).
      if (!(s.flags & TcpFlag.SYN) && (s.payload.length === 0 || s.flags & TcpFlag.RST)) return;
      c = this.open(fromClient ? src : dst, fromClient ? dst : src, ts, (s.flags & TcpFlag.SYN) === 0);
    }
    c.lastTs = ts;
    const fromClient = c.key === key;
    const dir = fromClient ? c.client : c.server;
    const other = fromClient ? c.server : c.client;
    if (s.flags & TcpFlag.ACK) other.acknowledged(s.ack, ts);
    dir.segment(s.seq, s.flags, s.payload, ts, s.missing);
    if (c.closed) return;
    if (s.flags & TcpFlag.RST) {
      this.close(c, ts, "rst");
      return;
    }
    if (s.flags & TcpFlag.FIN) {
      if (fromClient) c.clientFin = true;
      else c.serverFin = true;
      if (c.clientFin && c.serverFin) this.close(c, ts, "fin");
    }
  }

  private isFromClient(s: TcpSegment): boolean | undefined {
    const dstIsServer = this.serverPorts.has(s.dstPort);
    const srcIsServer = this.serverPorts.has(s.srcPort);
    if (dstIsServer !== srcIsServer) return dstIsServer;
    if (this.serverPorts.size > 0 && !dstIsServer) return undefined;
    if (s.flags & TcpFlag.SYN) return (s.flags & TcpFlag.ACK) === 0;
    return s.dstPort < s.srcPort;
  }

  private open(client: string, server: string, ts: number, midStream: boolean): Connection {
    if (this.stats.sessionsOpen >= this.maxSessions) {
      const oldest = this.connections.values().next().value;
      if (oldest) {
        this.stats.sessionsEvicted++;
        this.close(oldest, ts, "evicted");
      }
    }
    const session = new MysqlSession(
      { id: this.nextSessionId++, client, server, maxPayloadLength: this.maxPayloadLength },
      this.onEvent,
      this.stats,
    );
    const c: Connection = {
      key: `${client}>${server}`,
      reverseKey: `${server}>${client}`,
      session,
      client: new TcpDirection(
        { data: (d, t) => session.clientData(d, t), gap: (n, t) => session.gap(n, t) },
        this.stats,
        this.limits,
      ),
      server: new TcpDirection(
        { data: (d, t) => session.serverData(d, t), gap: (n, t) => session.gap(n, t) },
        this.stats,
        this.limits,
      ),
      clientFin: false,
      serverFin: false,
      lastTs: ts,
      closed: false,
    };
    this.connections.set(c.key, c);
    this.connections.set(c.reverseKey, c);
    this.stats.sessionsNew++;
    this.stats.sessionsOpen++;
    if (midStream) session.startMidStream(ts, this.knownSessions?.get(client));
    return c;
  }

  private close(c: Connection, ts: number, reason: CloseEvent["reason"]): void {
    if (c.closed) return;
    c.client.flush(ts);
    c.server.flush(ts);
    c.closed = true;
    this.connections.delete(c.key);
    this.connections.delete(c.reverseKey);
    this.stats.sessionsOpen--;
    this.stats.sessionsClosed++;
    c.session.close(ts, reason);
  }
}
