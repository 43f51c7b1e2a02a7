import type { ConnectEvent } from "../../../src/capture/events.ts";

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
