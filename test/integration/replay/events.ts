import type { ConnectEvent, ResponseEvent, SessionEvent } from "../../../src/capture/events.ts";
import { decodePcapFile } from "../../../src/capture/pcap-file.ts";
import { eventRecord } from "../../../src/capture/publish.ts";
import type { StreamLog } from "../../../src/stream/index.ts";
import { fixture } from "./cli-run.ts";

/** The session events of a pcap in test/fixtures/pcap (its server on port 44991). */
export async function pcapEvents(name: string): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  await decodePcapFile(fixture(name), (e) => events.push(e), { serverPorts: [44991] });
  return events;
}

/** Appends `events` to `stream` of `log`, as capture --to does (one batch); the log stays open. */
export async function appendEvents(log: StreamLog, stream: string, events: SessionEvent[]): Promise<void> {
  const producer = await log.producer(stream);
  await producer.append(events.map(eventRecord));
  await producer.close();
}

/** A captured connect: `session` as root from loopback into `db`. */
export function connectEvent(session: number, ts: number, db: string): ConnectEvent {
  return {
    type: "connect",
    session,
    ts,
    client: `127.0.0.1:${40000 + session}`,
    server: "127.0.0.1:3306",
    user: "root",
    db,
    serverVersion: undefined,
    connectionId: session,
    capabilities: undefined,
    compressed: false,
    tls: false,
    midStream: false,
  };
}

/** An OK answer of the source (a result set or an OK packet), `fields` saying what it held. */
const answered = (
  session: number,
  seq: number,
  ts: number,
  latencyUs: number,
  fields: Pick<ResponseEvent, "kind" | "affectedRows" | "resultSets" | "columns" | "rows">,
): ResponseEvent => ({ type: "response", session, seq, ts, ok: true, warnings: 0, latencyUs, ...fields });

/** The source's answer to command `seq` of `session`: a result set of `rows` rows, in `latencyUs`. */
export function resultsetResponse(
  session: number,
  seq: number,
  ts: number,
  rows = 1,
  latencyUs = 50,
): ResponseEvent {
  return answered(session, seq, ts, latencyUs, {
    kind: "resultset",
    affectedRows: 0,
    resultSets: 1,
    columns: 1,
    rows,
  });
}

/** The source's answer to command `seq` of `session`: OK, `affectedRows` rows changed (1), in `latencyUs` (50). */
export const okResponse = (
  session: number,
  seq: number,
  ts: number,
  { affectedRows = 1, latencyUs = 50 } = {},
): ResponseEvent =>
  answered(session, seq, ts, latencyUs, { kind: "ok", affectedRows, resultSets: 0, columns: 0, rows: 0 });
