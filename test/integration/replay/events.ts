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

/** The counts of a query's answer: one result set, of one column. */
const ONE_RESULT_SET = { affectedRows: 0, warnings: 0, resultSets: 1, columns: 1 };

/** The source's answer to command `seq` of `session`: a result set of `rows` rows, in `latencyUs`. */
export function resultsetResponse(
  session: number,
  seq: number,
  ts: number,
  rows = 1,
  latencyUs = 50,
): ResponseEvent {
  return {
    type: "response",
    session,
    seq,
    ts,
    kind: "resultset",
    ok: true,
    ...ONE_RESULT_SET,
    rows,
    latencyUs,
  };
}
