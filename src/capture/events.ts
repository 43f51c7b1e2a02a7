import type { ParamValue } from "../codecs/mysql/binary-values.ts";
import type { QueryAttribute } from "../codecs/mysql/command.ts";

/**
 * What a capture produces: an ordered stream of session events. Timestamps (`ts`) are capture times in
 * microseconds since the epoch; latencies are microseconds between the capture of the packet that
 * completed the command and the capture of the packet that completed its response.
 */
export interface ConnectEvent {
  type: "connect";
  session: number;
  /**
   * The capture run that wrote the event into a stream log (`sluice capture --to`): each run numbers its
   * sessions from 1, so a session is `run` and `session` together. Absent in events of older streams
   * and outside a stream log.
   */
  run?: string;
  ts: number;
  client: string;
  server: string;
  user: string | undefined;
  db: string | undefined;
  serverVersion: string | undefined;
  connectionId: number | undefined;
  /** Negotiated capability flags (client's & server's); undefined when the handshake was not seen. */
  capabilities: number | undefined;
  compressed: boolean;
  tls: boolean;
  /** The capture started after this connection was opened: its handshake was not seen. */
  midStream: boolean;
  /** Set when authentication failed (the ERR the server sent). */
  authError?: { errno: number; sqlState: string | undefined; message: string };
}

export interface CommandEvent {
  type: "command";
  session: number;
  /** The capture run (see ConnectEvent). */
  run?: string;
  /** 1, 2, 3, ... per session. */
  seq: number;
  ts: number;
  /** query, init_db, ping, quit, stmt_prepare, stmt_execute, stmt_close, ... */
  kind: string;
  sql?: string;
  statementId?: number;
  params?: ParamValue[];
  /** stmt_send_long_data: the parameter (from 0) the piece is for, and the piece's length in bytes. */
  paramId?: number;
  bytes?: number;
  attributes?: QueryAttribute[];
  /** The database in use when the command was sent, when known. */
  db: string | undefined;
}

export interface ResponseEvent {
  type: "response";
  session: number;
  /** The capture run (see ConnectEvent). */
  run?: string;
  /** The seq of the command it answers. */
  seq: number;
  ts: number;
  kind: string;
  ok: boolean;
  errno?: number;
  sqlState?: string | undefined;
  message?: string;
  affectedRows: number;
  lastInsertId?: number;
  warnings: number;
  /** Result sets returned (a multi-statement or a CALL returns several). */
  resultSets: number;
  columns: number;
  rows: number;
  /** For stmt_prepare: the id the server gave the statement, and its parameter count. */
  statementId?: number;
  paramCount?: number;
  latencyUs: number;
}

export interface ResyncEvent {
  type: "resync";
  session: number;
  /** The capture run (see ConnectEvent). */
  run?: string;
  ts: number;
  /** Why decoding had to find its footing again: gap (lost bytes), start (capture began mid-connection), error. */
  reason: "gap" | "mid-stream" | "error" | "overflow";
  lostBytes: number;
  detail?: string;
}

export interface CloseEvent {
  type: "close";
  session: number;
  /** The capture run (see ConnectEvent). */
  run?: string;
  ts: number;
  /** quit (COM_QUIT), fin, rst, idle (timeout), end (the capture ended), evicted (too many sessions). */
  reason: "quit" | "fin" | "rst" | "idle" | "end" | "evicted" | "auth-failed";
  commands: number;
}

export type SessionEvent = ConnectEvent | CommandEvent | ResponseEvent | ResyncEvent | CloseEvent;
