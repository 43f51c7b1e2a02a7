import { nextBinlogFileName } from "../../codecs/binlog/events/rotate.ts";
import type { BinlogEvent } from "../../codecs/binlog/events.ts";
import { GtidSet, type MariadbGtid, MariadbGtidPosition } from "../../codecs/binlog/gtid.ts";
import { EventFlag, type EventHeader, EventType } from "../../codecs/binlog/types.ts";
import { compareBinlogPositions } from "./positions.ts";

/**
 * The replication stream's bookkeeping, pure: where each event is, which transaction it belongs to,
 * what has been delivered, where to resume after a lost connection, and when to stop.
 *
 * Delivery guarantee (what `admit` implements): every event is handed to the consumer at most once,
 * in binlog order, and -- as long as the server still has the binlog -- exactly once, across
 * reconnects. After a reconnect the server is asked to resume at the last COMPLETE transaction (by
 * file:offset when the server's BINLOG_GTID_POS confirms that position holds the stream's GTID state,
 * else by GTID on MariaDB and by executed GTID set on MySQL when known, else by file:offset), so it
 * sends the transaction that was in flight again from its first event; the events of it that the consumer already has are
 * recognised by their file and offset and dropped, so the consumer sees the rest of that transaction
 * once. Events the server makes up for the occasion (the artificial ROTATE, FORMAT_DESCRIPTION and
 * GTID_LIST that open a dump) are not delivered again after a reconnect; heartbeats are always
 * delivered (they are not binlog events and say "nothing newer", which is what lag reporting needs).
 * A resume by GTID (another server, a purged file) starts at the next transaction: events between
 * transactions that were not delivered yet (a ROTATE or STOP closing a file, a checkpoint) are then
 * skipped by the server; transactions are never skipped or repeated.
 */

export type ResolvedStop =
  | { kind: "position"; file: string; offset: number }
  | { kind: "mariadb-gtid"; position: MariadbGtidPosition }
  | { kind: "mysql-gtid"; set: GtidSet };

export type ResumePoint =
  | { kind: "file"; file: string; offset: number }
  | { kind: "mariadb-gtid"; position: MariadbGtidPosition }
  | { kind: "mysql-gtid"; set: GtidSet };

export interface CursorInit {
  /** Where the dump starts (the server's artificial ROTATE confirms or corrects it). */
  file: string;
  offset: number;
  /** MariaDB: the GTID state at the start (from BINLOG_GTID_POS or the user's start GTID). */
  mariadbState?: MariadbGtidPosition | undefined;
  /** MySQL: the executed GTID set at the start (when the user started from one). */
  mysqlExecuted?: GtidSet | undefined;
  stop?: ResolvedStop | undefined;
}

export type Admission = "deliver" | "skip" | "stop";

interface OpenTransaction {
  mariadb: MariadbGtid | undefined;
  mysql: { uuid: string; gno: bigint; tag: string | undefined } | undefined;
  /** A multi-statement transaction: it ends at XID / COMMIT / ROLLBACK, not at its first query. */
  multiStatement: boolean;
}

export function isArtificial(header: EventHeader): boolean {
  return header.logPos === 0 || (header.flags & EventFlag.ARTIFICIAL) !== 0;
}

function isHeartbeat(typeCode: number): boolean {
  return typeCode === EventType.HEARTBEAT || typeCode === EventType.HEARTBEAT_V2;
}

/** Copies a GTID state (the codec's classes are mutable). */
function copyState(p: MariadbGtidPosition): MariadbGtidPosition {
  return MariadbGtidPosition.of(p.list());
}

export class StreamCursor {
  /** The file the server is reading and the offset of the next event in it. */
  file: string;
  next: number;
  /** Set once a stop condition is met: the stream ends after the current event. */
  finished = false;
  private readonly stop: ResolvedStop | undefined;
  private readonly mariadbState: MariadbGtidPosition | undefined;
  /** MySQL: the GTIDs known executed (the start set, when given, plus every transaction delivered). */
  private readonly mysqlKnown: GtidSet;
  /** Resume MySQL streams by GTID set only when the start was one (else the set is partial). */
  private readonly mysqlResumeByGtid: boolean;
  /** The position after the last complete transaction (or lone event) delivered. */
  private lastComplete: { file: string; offset: number };
  private lastDelivered: { file: string; offset: number } | undefined;
  private resuming = false;
  private trx: OpenTransaction | undefined;

  constructor(init: CursorInit) {
    this.file = init.file;
    this.next = init.offset;
    this.lastComplete = { file: init.file, offset: init.offset };
    this.mariadbState = init.mariadbState ? copyState(init.mariadbState) : undefined;
    this.mysqlKnown = init.mysqlExecuted ? GtidSet.parse(init.mysqlExecuted.toString()) : new GtidSet();
    this.mysqlResumeByGtid = init.mysqlExecuted !== undefined;
    this.stop = init.stop;
    if (this.stopGtidReached()) this.finished = true;
  }

  /** The GTID state after the last complete transaction delivered (MariaDB). */
  get gtidState(): string | undefined {
    return this.mariadbState?.toString();
  }

  /** The executed GTID set after the last complete transaction delivered (MySQL, when known). */
  get executedGtids(): string | undefined {
    return this.mysqlResumeByGtid ? this.mysqlKnown.toString() : undefined;
  }

  /** Where the consumer has everything before (file:offset). */
  get completePosition(): { file: string; offset: number } {
    return { ...this.lastComplete };
  }

  /** Where to ask the server to resume after a lost connection. */
  resumePoint(): ResumePoint {
    if (this.mariadbState) return { kind: "mariadb-gtid", position: copyState(this.mariadbState) };
    if (this.mysqlResumeByGtid) return { kind: "mysql-gtid", set: GtidSet.parse(this.mysqlKnown.toString()) };
    return { kind: "file", ...this.lastComplete };
  }

  /** A new connection will replay from the resume point: drop what was delivered already. */
  reconnecting(): void {
    this.resuming = this.lastDelivered !== undefined;
    this.trx = undefined;
    const r = this.lastComplete;
    this.file = r.file;
    this.next = r.offset;
  }

  /**
   * The file and offset of a raw event, from its header, for the decoder. Artificial events and
   * heartbeats are placed at the current position. A FORMAT_DESCRIPTION at offset 4 that comes without
   * a ROTATE before it means a file boundary passed unannounced: the next file's name is computed.
   */
  locate(header: EventHeader): { file: string; offset: number } {
    if (isArtificial(header) || isHeartbeat(header.typeCode)) return { file: this.file, offset: this.next };
    const offset = header.logPos - header.eventSize;
    if (header.typeCode === EventType.FORMAT_DESCRIPTION && offset === 4 && this.next > 4) {
      this.file = nextBinlogFileName(this.file) ?? this.file;
    }
    return { file: this.file, offset };
  }

  /**
   * Decides about a decoded event (placed by `locate`): deliver it, skip it (already delivered before
   * a reconnect), or stop before it. Fixes the positions of artificial events and heartbeats.
   */
  admit(ev: BinlogEvent): Admission {
    if (this.finished) return "stop";
    const h = ev.header;
    if (ev.type === "heartbeat" || ev.type === "heartbeat_v2") {
      const offset = ev.binlogPosition === undefined ? h.logPos : Number(ev.binlogPosition);
      ev.position = { file: ev.binlogFile || this.file, offset, next: offset };
      return "deliver";
    }
    if (isArtificial(h)) {
      let file = this.file;
      let at = h.logPos || this.next;
      if (ev.type === "rotate") {
        file = ev.nextFile;
        at = Number(ev.nextPosition);
      }
      ev.position = { file, offset: at, next: at };
      this.file = file;
      this.next = at;
      if (ev.type === "rotate" && !this.trx && !this.resuming && this.lastDelivered === undefined)
        this.lastComplete = { file, offset: at };
      if (this.resuming) return "skip";
      if (this.beyondStop(ev.position)) return this.halt();
      return "deliver";
    }
    const pos = ev.position;
    this.next = pos.next;
    this.track(ev);
    if (ev.type === "rotate") {
      this.file = ev.nextFile;
      this.next = Number(ev.nextPosition);
    }
    if (this.resuming && this.lastDelivered && compareBinlogPositions(pos, this.lastDelivered) <= 0) {
      this.settle(ev, false);
      return "skip";
    }
    this.resuming = false;
    if (this.beyondStop(pos)) return this.halt();
    this.lastDelivered = { file: pos.file, offset: pos.offset };
    this.settle(ev, true);
    if (this.stop?.kind === "position" && pos.file === this.stop.file && pos.next >= this.stop.offset)
      this.finished = true;
    return "deliver";
  }

  private halt(): Admission {
    this.finished = true;
    return "stop";
  }

  private beyondStop(pos: { file: string; offset: number }): boolean {
    return this.stop?.kind === "position" && compareBinlogPositions(pos, this.stop) >= 0;
  }

  /** Follows transaction boundaries: a GTID event opens one; XID, COMMIT, a lone DDL close it. */
  private track(ev: BinlogEvent): void {
    switch (ev.type) {
      case "mariadb_gtid":
        this.trx = {
          mariadb: { domainId: ev.domainId, serverId: ev.header.serverId, seqNo: ev.seqNo },
          mysql: undefined,
          // MariaDB's GTID event stands for BEGIN unless the group is a single statement.
          multiStatement: !ev.standalone,
        };
        return;
      case "gtid":
      case "anonymous_gtid":
      case "gtid_tagged_log":
        this.trx = {
          mariadb: undefined,
          mysql: ev.type === "anonymous_gtid" ? undefined : { uuid: ev.uuid, gno: ev.gno, tag: ev.tag },
          multiStatement: false,
        };
        return;
    }
  }

  /** Whether `ev` closes the open transaction (or is a lone event outside any). */
  private closes(ev: BinlogEvent): boolean {
    if (!this.trx) return true;
    switch (ev.type) {
      case "mariadb_gtid":
      case "gtid":
      case "anonymous_gtid":
      case "gtid_tagged_log":
        return false;
      case "xid":
      case "xa_prepare":
      case "transaction_payload":
        return true;
      case "query":
      case "mariadb_query_compressed": {
        const q = ev.query.trimStart().slice(0, 12).toUpperCase();
        if (q.startsWith("BEGIN") || q.startsWith("XA START")) {
          this.trx.multiStatement = true;
          return false;
        }
        if (!this.trx.multiStatement) return true;
        return (
          q.startsWith("COMMIT") ||
          q.startsWith("ROLLBACK") ||
          q.startsWith("XA END") ||
          q.startsWith("XA COMMIT")
        );
      }
      default:
        return false;
    }
  }

  /** Records a delivered (or re-seen) event: completes transactions, advances the resume point. */
  private settle(ev: BinlogEvent, delivered: boolean): void {
    const wasInTrx = this.trx !== undefined;
    if (
      ev.type === "mariadb_gtid" ||
      ev.type === "gtid" ||
      ev.type === "anonymous_gtid" ||
      ev.type === "gtid_tagged_log"
    )
      return;
    if (!this.closes(ev)) return;
    const trx = this.trx;
    this.trx = undefined;
    if (!delivered) return;
    if (ev.type === "rotate") this.lastComplete = { file: ev.nextFile, offset: Number(ev.nextPosition) };
    else this.lastComplete = { file: ev.position.file, offset: ev.position.next };
    if (!wasInTrx || !trx) return;
    if (trx.mariadb) this.mariadbState?.set(trx.mariadb);
    if (trx.mysql) this.mysqlKnown.add(trx.mysql.uuid, trx.mysql.gno, trx.mysql.tag);
    if (this.stopGtidReached()) this.finished = true;
  }

  private stopGtidReached(): boolean {
    const stop = this.stop;
    if (stop?.kind === "mariadb-gtid") {
      if (!this.mariadbState) return false;
      return stop.position.list().every((g) => {
        const seen = this.mariadbState?.get(g.domainId);
        return seen !== undefined && seen.seqNo >= g.seqNo;
      });
    }
    if (stop?.kind === "mysql-gtid") {
      const executed = this.mysqlKnown;
      return stop.set
        .entries()
        .every((e) =>
          e.intervals.every((iv) =>
            executed
              .entries()
              .some(
                (x) =>
                  x.uuid === e.uuid &&
                  x.tag === e.tag &&
                  x.intervals.some((y) => y.start <= iv.start && iv.end <= y.end),
              ),
          ),
        );
    }
    return false;
  }
}
