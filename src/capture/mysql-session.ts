import { type ParamValue, textOrHex } from "../codecs/mysql/binary-values.ts";
import {
  CaptureCapability,
  CommandCode,
  decodeCommand,
  decodePrepareOk,
  type StatementInfo,
} from "../codecs/mysql/command.ts";
import { CompressedFrameParser, looksLikeCompressedCommand } from "../codecs/mysql/compressed.ts";
import { parseInitialHandshake } from "../codecs/mysql/handshake.ts";
import { decodeClientHandshake } from "../codecs/mysql/handshake-response.ts";
import {
  Capability,
  decodeErr,
  decodeOk,
  MARIADB_PROGRESS_ERRNO,
  ServerStatus,
} from "../codecs/mysql/ok-err.ts";
import { type MysqlPacket, PacketParser } from "../codecs/mysql/packet.ts";
import { messageOf } from "../core/errors.ts";
import type { CloseEvent, CommandEvent, ConnectEvent, ResyncEvent, SessionEvent } from "./events.ts";

/**
 * One MySQL connection as a passive observer follows it: both directions' bytes in (in order, with
 * gaps reported), session events out. Strict request/response pairing: commands wait in a FIFO for
 * their responses (clients may pipeline; COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA and COM_QUIT get none).
 *
 * When the conversation is not seen from its start, or bytes were lost, the session is "unsynced": it
 * ignores client bytes until a segment starts with what can only be a command (a packet header with
 * sequence id 0, a known command byte and a length that fits), and server bytes until the response to
 * that command starts (sequence id 1).
 */
export interface SessionCounters {
  commands: number;
  responses: number;
  errors: number;
  resyncs: number;
  tlsSessions: number;
  decodeErrors: number;
  /** Client bytes skipped while looking for a command boundary. */
  skippedBytes: number;
  /** Statements executed whose COM_STMT_PREPARE was not seen (parameters not decodable). */
  unknownStatements: number;
}

export function newSessionCounters(): SessionCounters {
  return {
    commands: 0,
    responses: 0,
    errors: 0,
    resyncs: 0,
    tlsSessions: 0,
    decodeErrors: 0,
    skippedBytes: 0,
    unknownStatements: 0,
  };
}

export interface SessionOptions {
  id: number;
  client: string;
  server: string;
  /** Largest MySQL payload followed (bytes); a longer one resets the direction. Default 64 MiB. */
  maxPayloadLength?: number;
  /** Largest SQL text / long-data value kept in events (characters). Default 1 MiB. */
  maxTextLength?: number;
}

/** What the server's processlist said about a connection open before the capture started. */
export interface KnownSession {
  user?: string | undefined;
  db?: string | undefined;
  connectionId?: number | undefined;
}

/** "done": nothing more to decode (refused, or turned into a binlog dump). */
type Phase = "greeting" | "handshake" | "auth" | "command" | "tls" | "done";

/** What the response to a pending command must look like. */
type Expect = "generic" | "prepare" | "field_list" | "fetch" | "auth" | "single" | "none";

interface PendingCommand {
  event: CommandEvent;
  expect: Expect;
  /** For stmt_prepare: the SQL, so the statement can be named. */
  database?: string;
  // response accumulation
  state: "start" | "columns" | "columns-eof" | "rows" | "defs";
  remaining: number;
  resultSets: number;
  columns: number;
  rows: number;
  affectedRows: number;
  lastInsertId: number;
  warnings: number;
  statementId?: number;
  paramCount?: number;
}

/** Commands a client sends that the resync check accepts as the start of a conversation turn. */
const RESYNC_COMMANDS = new Set<number>([
  CommandCode.QUIT,
  CommandCode.INIT_DB,
  CommandCode.QUERY,
  CommandCode.FIELD_LIST,
  CommandCode.STATISTICS,
  CommandCode.PING,
  CommandCode.CHANGE_USER,
  CommandCode.STMT_PREPARE,
  CommandCode.STMT_EXECUTE,
  CommandCode.STMT_SEND_LONG_DATA,
  CommandCode.STMT_CLOSE,
  CommandCode.STMT_RESET,
  CommandCode.SET_OPTION,
  CommandCode.STMT_FETCH,
  CommandCode.RESET_CONNECTION,
]);

/** The exact payload lengths of fixed-size commands, to reject look-alikes while resynchronising. */
const FIXED_LENGTHS: Partial<Record<number, number>> = {
  [CommandCode.QUIT]: 1,
  [CommandCode.PING]: 1,
  [CommandCode.STATISTICS]: 1,
  [CommandCode.RESET_CONNECTION]: 1,
  [CommandCode.STMT_CLOSE]: 5,
  [CommandCode.STMT_RESET]: 5,
  [CommandCode.STMT_FETCH]: 9,
  [CommandCode.SET_OPTION]: 3,
};

function plausibleCommandHeader(chunk: Buffer, pos: number): boolean {
  if (chunk.length - pos < 5) return false;
  const length = chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16);
  if (chunk[pos + 3] !== 0 || length === 0) return false;
  const code = chunk[pos + 4]!;
  if (!RESYNC_COMMANDS.has(code)) return false;
  const fixed = FIXED_LENGTHS[code];
  if (fixed !== undefined && length !== fixed) return false;
  if (code === CommandCode.STMT_EXECUTE && length < 10) return false;
  return true;
}

/** True when `chunk` (the data of one segment) starts with a command and ends on a packet boundary or inside the command. */
export function looksLikeCommandStart(chunk: Buffer): boolean {
  let pos = 0;
  // Up to a few pipelined packets per segment: each must be a plausible command.
  for (let i = 0; i < 8; i++) {
    if (!plausibleCommandHeader(chunk, pos)) return false;
    const length = chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16);
    pos += 4 + length;
    if (pos >= chunk.length) return true;
  }
  return false;
}

/** True when `chunk` starts with a server response packet (sequence id 1, length that fits). */
function looksLikeResponseStart(chunk: Buffer): boolean {
  if (chunk.length < 5 || chunk[3] !== 1) return false;
  const length = chunk[0]! | (chunk[1]! << 8) | (chunk[2]! << 16);
  return length > 0;
}

const MAX_PENDING_COMMANDS = 1024;
const MAX_STATEMENTS = 65536;

const USE_RE = /^\s*(?:\/\*.*?\*\/\s*)*use\s+`?([^`\s;]+)`?\s*;?\s*$/is;

export class MysqlSession {
  readonly id: number;
  readonly client: string;
  readonly server: string;
  private readonly emit: (e: SessionEvent) => void;
  private readonly counters: SessionCounters;
  private readonly maxTextLength: number;
  private phase: Phase = "greeting";
  private synced = true;
  /** After a client-side resync, server bytes wait for the start of the next response. */
  private serverSynced = true;
  private capabilities: number | undefined;
  private serverCapabilities = 0;
  private compressed = false;
  private db: string | undefined;
  private user: string | undefined;
  private serverVersion: string | undefined;
  private connectionId: number | undefined;
  private connected = false;
  private commandSeq = 0;
  private quitSeen = false;
  private authFailed = false;
  private infile = false;
  private ts = 0;
  private readonly pending: PendingCommand[] = [];
  private readonly statements = new Map<number, StatementInfo>();
  /** COM_STMT_SEND_LONG_DATA pieces per statement and parameter, until the execution that uses them. */
  private readonly longPieces = new WeakMap<
    StatementInfo,
    Map<number, { chunks: Buffer[]; length: number }>
  >();
  /** Statements with entries in longPieces. */
  private longPiecesKept = 0;
  private readonly clientPackets: PacketParser;
  private readonly serverPackets: PacketParser;
  private clientCompressed: CompressedFrameParser | undefined;
  /** While unsynced: a segment that may be a compressed chunk's header, waiting for its body. */
  private heldHeader: Buffer | undefined;
  private serverCompressed: CompressedFrameParser | undefined;

  constructor(options: SessionOptions, emit: (e: SessionEvent) => void, counters: SessionCounters) {
    this.id = options.id;
    this.client = options.client;
    this.server = options.server;
    this.emit = emit;
    this.counters = counters;
    this.maxTextLength = options.maxTextLength ?? 1024 * 1024;
    const maxPayloadLength = options.maxPayloadLength ?? 64 * 1024 * 1024;
    this.clientPackets = new PacketParser((p) => this.onClientPacket(p), { maxPayloadLength });
    this.serverPackets = new PacketParser((p) => this.onServerPacket(p), {
      maxPayloadLength,
      peek: (chunk, start, length) => this.countServerPacket(chunk, start, length),
    });
  }

  get commandCount(): number {
    return this.commandSeq;
  }

  get quit(): boolean {
    return this.quitSeen;
  }

  get isTls(): boolean {
    return this.phase === "tls";
  }

  /** Bytes held in partial packets (for the memory bound). */
  get bufferedBytes(): number {
    return (
      this.clientPackets.buffered +
      this.serverPackets.buffered +
      (this.clientCompressed?.buffered ?? 0) +
      (this.serverCompressed?.buffered ?? 0)
    );
  }

  /** The capture missed this connection's start: decode from the next command on. */
  startMidStream(ts: number, known?: KnownSession): void {
    if (known) {
      this.user = known.user;
      this.db = known.db;
      this.connectionId = known.connectionId;
    }
    this.phase = "command";
    this.desync(ts, "mid-stream", 0);
  }

  clientData(chunk: Buffer, ts: number): void {
    this.ts = ts;
    if (this.phase === "tls" || this.phase === "done") return;
    if (!this.synced) {
      // Some clients (mysql2) write a compressed chunk's 7-byte header and its body separately.
      const held = this.heldHeader;
      this.heldHeader = undefined;
      if (held) chunk = Buffer.concat([held, chunk]);
      let compressed = looksLikeCompressedCommand(chunk, looksLikeCommandStart);
      if (!compressed && held) {
        this.counters.skippedBytes += held.length;
        chunk = chunk.subarray(held.length);
        compressed = looksLikeCompressedCommand(chunk, looksLikeCommandStart);
      }
      const plain = !compressed && !this.compressed && looksLikeCommandStart(chunk);
      if (!plain && !compressed) {
        if (chunk.length === 7 && chunk[3] === 0) this.heldHeader = Buffer.from(chunk);
        else this.counters.skippedBytes += chunk.length;
        return;
      }
      if (compressed && !this.compressed) this.startCompression("zlib");
      this.synced = true;
      this.serverSynced = false;
      this.clientPackets.reset();
      this.serverPackets.reset();
      this.clientCompressed?.reset();
      this.serverCompressed?.reset();
      this.pending.length = 0;
      this.infile = false;
      this.ensureConnectEvent(ts, true);
    }
    this.feed(chunk, true);
  }

  serverData(chunk: Buffer, ts: number): void {
    this.ts = ts;
    if (this.phase === "tls" || this.phase === "done") return;
    if (!this.synced) return;
    if (!this.serverSynced) {
      if (this.pending.length === 0 || !looksLikeResponseStart(chunk)) return;
      this.serverSynced = true;
    }
    this.feed(chunk, false);
  }

  /** Bytes of one direction were lost: drop what was in flight and look for the next command. */
  gap(lostBytes: number, ts: number): void {
    this.ts = ts;
    if (this.phase === "tls" || this.phase === "done") return;
    // Lost inside the handshake too: what follows can still be found by its commands.
    this.desync(ts, "gap", lostBytes);
  }

  close(ts: number, reason: CloseEvent["reason"]): void {
    this.ts = ts;
    if (this.phase === "tls" && !this.connected) this.ensureConnectEvent(ts, false);
    this.emit({
      type: "close",
      session: this.id,
      ts,
      reason:
        this.authFailed && reason !== "idle"
          ? "auth-failed"
          : this.quitSeen && (reason === "fin" || reason === "end" || reason === "rst")
            ? "quit"
            : reason,
      commands: this.commandSeq,
    });
  }

  private desync(ts: number, reason: ResyncEvent["reason"], lostBytes: number, detail?: string): void {
    const wasSynced = this.synced;
    this.synced = false;
    if (this.phase !== "tls" && this.phase !== "done") this.phase = "command";
    this.pending.length = 0;
    this.clientPackets.reset();
    this.serverPackets.reset();
    this.clientCompressed?.reset();
    this.serverCompressed?.reset();
    this.counters.resyncs++;
    if (wasSynced || reason !== "gap")
      this.emit({ type: "resync", session: this.id, ts, reason, lostBytes, ...(detail ? { detail } : {}) });
  }

  private feed(chunk: Buffer, fromClient: boolean): void {
    try {
      const compressed = fromClient ? this.clientCompressed : this.serverCompressed;
      if (compressed) compressed.push(chunk);
      else (fromClient ? this.clientPackets : this.serverPackets).push(chunk);
    } catch (e) {
      this.counters.decodeErrors++;
      const code = (e as { code?: string }).code;
      const cause = (e as { cause?: unknown }).cause;
      const detail = cause === undefined ? messageOf(e) : `${messageOf(e)}: ${messageOf(cause)}`;
      this.desync(this.ts, code === "MYSQL_PACKET_TOO_LARGE" ? "overflow" : "error", 0, detail);
    }
  }

  private ensureConnectEvent(ts: number, midStream: boolean, extra: Partial<ConnectEvent> = {}): void {
    if (this.connected) return;
    this.connected = true;
    this.emit({
      type: "connect",
      session: this.id,
      ts,
      client: this.client,
      server: this.server,
      user: this.user,
      db: this.db,
      serverVersion: this.serverVersion,
      connectionId: this.connectionId,
      capabilities: this.capabilities,
      compressed: this.compressed,
      tls: this.phase === "tls",
      midStream,
      ...extra,
    });
  }

  // ---- client side ----

  private onClientPacket(packet: MysqlPacket): void {
    const payload = packet.payload;
    switch (this.phase) {
      case "greeting":
      case "handshake":
        this.onClientHandshake(payload);
        return;
      case "auth":
        return; // auth-switch responses and RSA key requests carry nothing to report
      case "command":
        break;
      default:
        return;
    }
    if (this.infile) {
      // LOAD DATA LOCAL INFILE: the file's content, ended by an empty packet.
      if (payload.length === 0) this.infile = false;
      return;
    }
    const head = this.pending[0];
    if (head && head.expect === "auth" && head.state === "defs") return; // change-user auth exchange
    if (packet.sequenceId !== 0 || payload.length === 0) {
      // Not a command: a stray continuation. Look for the next command.
      this.desync(
        this.ts,
        "error",
        0,
        `client packet with sequence id ${packet.sequenceId} outside a command`,
      );
      return;
    }
    this.onCommand(payload);
  }

  private onClientHandshake(payload: Buffer): void {
    const hs = decodeClientHandshake(payload);
    this.capabilities = (hs.capabilities & (this.serverCapabilities || 0xffffffff)) >>> 0;
    if (hs.sslRequest) {
      this.phase = "tls";
      this.counters.tlsSessions++;
      this.ensureConnectEvent(this.ts, false);
      return;
    }
    this.user = hs.user;
    this.db = hs.database;
    this.phase = "auth";
  }

  private onCommand(payload: Buffer): void {
    const capabilities = this.capabilities ?? Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION;
    if (payload[0] === CommandCode.STMT_EXECUTE && payload.length >= 5) {
      const stmt = this.statements.get(payload.readUInt32LE(1));
      if (stmt) this.spliceLongData(stmt);
    }
    const cmd = decodeCommand(payload, { capabilities, statements: this.statements });
    this.commandSeq++;
    this.counters.commands++;
    const event: CommandEvent = {
      type: "command",
      session: this.id,
      seq: this.commandSeq,
      ts: this.ts,
      kind: cmd.kind,
      db: this.db,
    };
    let expect: Expect = "generic";
    const c = cmd as Record<string, unknown>;
    switch (cmd.kind) {
      case "query":
        event.sql = this.clip(c.sql as string);
        if (c.attributes && (c.attributes as unknown[]).length > 0)
          event.attributes = c.attributes as CommandEvent["attributes"] & {};
        break;
      case "stmt_prepare":
        event.sql = this.clip(c.sql as string);
        expect = "prepare";
        break;
      case "stmt_execute": {
        event.statementId = c.statementId as number;
        event.params = c.params as ParamValue[];
        if (c.unknownStatement) this.counters.unknownStatements++;
        const stmt = this.statements.get(event.statementId);
        if (stmt) {
          if (c.types) stmt.paramTypes = c.types as StatementInfo["paramTypes"];
          this.clearLongData(stmt);
        }
        break;
      }
      case "stmt_send_long_data": {
        event.statementId = c.statementId as number;
        event.paramId = c.paramId as number;
        event.bytes = c.length as number;
        const stmt = this.statements.get(event.statementId);
        if (stmt) this.addLongData(stmt, event.paramId, payload.subarray(7));
        expect = "none";
        break;
      }
      case "stmt_close":
        event.statementId = c.statementId as number;
        this.statements.delete(event.statementId);
        expect = "none";
        break;
      case "stmt_reset": {
        event.statementId = c.statementId as number;
        const stmt = this.statements.get(event.statementId);
        if (stmt) this.clearLongData(stmt);
        break;
      }
      case "stmt_fetch":
        event.statementId = c.statementId as number;
        expect = "fetch";
        break;
      case "quit":
        this.quitSeen = true;
        expect = "none";
        break;
      case "field_list":
        event.sql = c.table as string;
        expect = "field_list";
        break;
      case "init_db":
        event.sql = c.database as string;
        break;
      case "change_user":
        event.sql = c.user as string;
        expect = "auth";
        break;
      case "statistics":
        expect = "single";
        break;
      case "binlog_dump":
      case "binlog_dump_gtid":
        this.phase = "done";
        expect = "none";
        break;
    }
    this.emit(event);
    if (expect === "none") return;
    const p: PendingCommand = {
      event,
      expect,
      state: expect === "auth" ? "defs" : "start",
      remaining: 0,
      resultSets: 0,
      columns: 0,
      rows: 0,
      affectedRows: 0,
      lastInsertId: 0,
      warnings: 0,
    };
    if (cmd.kind === "init_db") p.database = c.database as string;
    if (cmd.kind === "change_user") p.database = c.database as string;
    if (cmd.kind === "query") {
      const m = USE_RE.exec(c.sql as string);
      if (m?.[1]) p.database = m[1];
    }
    this.pending.push(p);
    // A client does not pipeline thousands of commands: this is a stream read out of step.
    if (this.pending.length > MAX_PENDING_COMMANDS)
      this.desync(this.ts, "overflow", 0, `${this.pending.length} commands without a response`);
  }

  /**
   * A COM_STMT_SEND_LONG_DATA piece, kept as bytes: a piece may end inside a UTF-8 character, or the
   * value be binary, so the value is read only once whole (up to 4 bytes a character of the text limit).
   */
  private addLongData(stmt: StatementInfo, paramId: number, data: Buffer): void {
    let params = this.longPieces.get(stmt);
    if (!params) {
      params = new Map();
      this.longPieces.set(stmt, params);
      this.longPiecesKept++;
    }
    let piece = params.get(paramId);
    if (!piece) {
      piece = { chunks: [], length: 0 };
      params.set(paramId, piece);
    }
    const room = this.maxTextLength * 4 + 4 - piece.length;
    if (room <= 0) return;
    const kept = Buffer.from(data.subarray(0, room));
    piece.chunks.push(kept);
    piece.length += kept.length;
  }

  /** Puts the long data sent for a statement into the values its execution reads (text, or 0x-hex bytes). */
  private spliceLongData(stmt: StatementInfo): void {
    if (this.longPiecesKept === 0) return;
    const params = this.longPieces.get(stmt);
    if (!params) return;
    for (const [paramId, piece] of params)
      stmt.longData.set(paramId, this.clip(textOrHex(Buffer.concat(piece.chunks, piece.length))));
  }

  private clearLongData(stmt: StatementInfo): void {
    // every execute clears: most statements never had long data, and the WeakMap look-up is not free
    if (stmt.longData.size === 0 && this.longPiecesKept === 0) return;
    stmt.longData.clear();
    if (this.longPieces.delete(stmt)) this.longPiecesKept--;
  }

  private clip(s: string): string {
    return s.length > this.maxTextLength ? `${s.slice(0, this.maxTextLength)}...` : s;
  }

  // ---- server side ----

  private onServerPacket(packet: MysqlPacket): void {
    const payload = packet.payload;
    switch (this.phase) {
      case "greeting":
        this.onGreeting(payload);
        return;
      case "auth":
        this.onAuthPacket(payload);
        return;
      case "command":
        break;
      default:
        return;
    }
    const head = this.pending[0];
    if (!head) {
      // A lone EOF after a prepare whose layout was guessed, or a late packet: nothing to pair it with.
      if (!(payload[0] === 0xfe && payload.length < 9)) this.counters.decodeErrors++;
      return;
    }
    if (this.onResponsePacket(head, payload)) {
      this.pending.shift();
      this.finishResponse(head, payload);
    }
  }

  /**
   * The server packets a response is mostly made of (rows, column definitions) are only counted:
   * counted here from their first byte, without a Buffer for each. True when `onServerPacket` would
   * have done just that; anything else (the last column, EOF/OK/ERR, progress reports) goes there.
   */
  private countServerPacket(chunk: Buffer, start: number, length: number): boolean {
    if (this.phase !== "command" || length === 0) return false;
    const p = this.pending[0];
    if (p === undefined) return false;
    const first = chunk[start]!;
    if (first === 0xff || first === 0xfe) return false;
    if (p.state === "rows") {
      p.rows++;
      return true;
    }
    if (p.state === "columns" && p.remaining > 1) {
      p.remaining--;
      return true;
    }
    return false;
  }

  private onGreeting(payload: Buffer): void {
    if (payload[0] === 0xff) {
      this.refused(payload);
      return;
    }
    const hs = parseInitialHandshake(payload);
    this.serverCapabilities = hs.capabilities;
    this.serverVersion = hs.serverVersion;
    this.connectionId = hs.connectionId;
    this.phase = "handshake";
  }

  private onAuthPacket(payload: Buffer): void {
    const first = payload[0];
    if (first === 0x00) {
      this.phase = "command";
      const caps = this.capabilities ?? 0;
      if (caps & Capability.COMPRESS)
        this.startCompression(caps & CaptureCapability.ZSTD_COMPRESSION ? "zstd" : "zlib");
      this.ensureConnectEvent(this.ts, false);
    } else if (first === 0xff) {
      this.refused(payload);
    }
    // 0xFE auth switch, 0x01 more data: the exchange goes on.
  }

  /** The server said no before the command phase (host not allowed, bad password): nothing more to decode. */
  private refused(payload: Buffer): void {
    const err = decodeErr(payload);
    this.counters.errors++;
    this.authFailed = true;
    this.ensureConnectEvent(this.ts, false, {
      authError: { errno: err.errno, sqlState: err.sqlState, message: err.message },
    });
    this.phase = "done";
  }

  private startCompression(algorithm: "zlib" | "zstd"): void {
    this.compressed = true;
    this.clientPackets.reset();
    this.serverPackets.reset();
    this.clientCompressed = new CompressedFrameParser((d) => this.clientPackets.push(d), algorithm);
    this.serverCompressed = new CompressedFrameParser((d) => this.serverPackets.push(d), algorithm);
  }

  private get deprecateEof(): boolean | undefined {
    return this.capabilities === undefined ? undefined : (this.capabilities & Capability.DEPRECATE_EOF) !== 0;
  }

  /** Feeds one server packet to the response of `p`; true when the response is complete. */
  private onResponsePacket(p: PendingCommand, payload: Buffer): boolean {
    const first = payload[0];
    // MariaDB progress reports (ALTER TABLE, LOAD DATA... for clients that asked) come as ERR packets
    // with errno 0xFFFF in the middle of a response: not its end.
    if (first === 0xff && payload.length >= 3 && payload.readUInt16LE(1) === MARIADB_PROGRESS_ERRNO)
      return false;
    const terminator = first === 0xfe && payload.length < 0xffffff;
    switch (p.state) {
      case "start": {
        if (first === 0xff) return true;
        if (p.expect === "single") return true;
        if (p.expect === "prepare") return this.onPrepareOk(p, payload);
        if (p.expect === "field_list" || p.expect === "fetch") {
          // Column definitions / rows until EOF.
          if (terminator) return true;
          if (p.expect === "fetch") p.rows++;
          else p.columns++;
          return false;
        }
        if (first === 0x00) return this.onOk(p, payload);
        if (first === 0xfb) {
          this.infile = true;
          return false;
        }
        const n = this.columnCount(payload);
        p.resultSets++;
        p.columns += n;
        p.remaining = n;
        // MariaDB's MARIADB_CLIENT_CACHE_METADATA adds a "metadata follows" byte after the count;
        // 0 means the client has the column definitions cached and none are sent (the EOF that
        // ends them still is, unless DEPRECATE_EOF).
        const countLength = payload[0]! < 0xfb ? 1 : payload[0] === 0xfc ? 3 : 4;
        const metadataSkipped = payload.length === countLength + 1 && payload[countLength] === 0;
        if (n === 0) p.state = "rows";
        else if (!metadataSkipped) p.state = "columns";
        else p.state = this.deprecateEof === true ? "rows" : "columns-eof";
        return false;
      }
      case "columns":
        p.remaining--;
        if (p.remaining === 0) p.state = this.deprecateEof === true ? "rows" : "columns-eof";
        return false;
      case "columns-eof":
        if (first === 0xfe && (this.deprecateEof === false || payload.length === 5)) {
          // Classic EOF after the column definitions. A cursor leaves the rows for COM_STMT_FETCH.
          p.state = "rows";
          if (payload.length >= 5 && payload.readUInt16LE(3) & ServerStatus.CURSOR_EXISTS) return true;
          return false;
        }
        p.state = "rows";
        return this.onResponsePacket(p, payload);
      case "rows":
        if (first === 0xff) return true;
        if (terminator) {
          const status = this.terminatorStatus(payload);
          if (status & ServerStatus.MORE_RESULTS_EXISTS) {
            p.state = "start";
            return false;
          }
          return true;
        }
        p.rows++;
        return false;
      case "defs":
        if (p.expect === "auth") {
          if (first === 0x00) return this.onOk(p, payload);
          return first === 0xff;
        }
        if (!(first === 0xfe && payload.length < 9)) p.remaining--;
        return p.remaining <= 0 && (this.deprecateEof !== false || first === 0xfe);
    }
  }

  private columnCount(payload: Buffer): number {
    const first = payload[0]!;
    if (first < 0xfb) return first;
    if (first === 0xfc && payload.length >= 3) return payload.readUInt16LE(1);
    if (first === 0xfd && payload.length >= 4) return payload.readUIntLE(1, 3);
    return 0;
  }

  /** Status flags of an EOF (5 bytes) or of an OK that ends a result set under DEPRECATE_EOF. */
  private terminatorStatus(payload: Buffer): number {
    if (payload.length === 5) return payload.readUInt16LE(3);
    try {
      return decodeOk(payload, Capability.PROTOCOL_41).statusFlags;
    } catch {
      return payload.length >= 5 ? payload.readUInt16LE(3) : 0;
    }
  }

  private onOk(p: PendingCommand, payload: Buffer): boolean {
    const ok = decodeOk(payload, this.capabilities ?? Capability.PROTOCOL_41);
    p.affectedRows += Number(ok.affectedRows);
    p.lastInsertId = Number(ok.lastInsertId);
    p.warnings += ok.warnings;
    if (ok.statusFlags & ServerStatus.MORE_RESULTS_EXISTS && p.expect === "generic") {
      p.resultSets++;
      return false;
    }
    return true;
  }

  private onPrepareOk(p: PendingCommand, payload: Buffer): boolean {
    const ok = decodePrepareOk(payload);
    p.statementId = ok.statementId;
    p.paramCount = ok.params;
    p.columns = ok.columns;
    p.warnings = ok.warnings;
    // The server caps prepared statements per connection (max_prepared_stmt_count); so does Sluice.
    if (this.statements.size >= MAX_STATEMENTS) this.statements.delete(this.statements.keys().next().value!);
    this.statements.set(ok.statementId, {
      paramCount: ok.params,
      paramTypes: undefined,
      longData: new Map(),
    });
    // Definitions follow: params then columns, each block ended by an EOF unless DEPRECATE_EOF;
    // `remaining` counts only the definitions (the "defs" state skips the EOFs).
    p.remaining = ok.params + ok.columns;
    if (p.remaining === 0) return true;
    p.state = "defs";
    return false;
  }

  private finishResponse(p: PendingCommand, last: Buffer): void {
    const isErr = last[0] === 0xff;
    const err = isErr ? decodeErr(last) : undefined;
    if (err) this.counters.errors++;
    this.counters.responses++;
    if (!err && p.database !== undefined) this.db = p.database || this.db;
    if (!err && p.event.kind === "change_user") {
      this.user = p.event.sql;
      this.statements.clear();
    }
    if (!err && p.event.kind === "reset_connection") this.statements.clear();
    this.emit({
      type: "response",
      session: this.id,
      seq: p.event.seq,
      ts: this.ts,
      kind: p.event.kind,
      ok: !err,
      ...(err ? { errno: err.errno, sqlState: err.sqlState, message: err.message } : {}),
      affectedRows: p.affectedRows,
      ...(p.lastInsertId ? { lastInsertId: p.lastInsertId } : {}),
      warnings: p.warnings,
      resultSets: p.resultSets,
      columns: p.columns,
      rows: p.rows,
      ...(p.statementId !== undefined ? { statementId: p.statementId, paramCount: p.paramCount ?? 0 } : {}),
      latencyUs: Math.max(0, this.ts - p.event.ts),
    });
  }
}
