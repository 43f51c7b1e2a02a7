import { SluiceError } from "../../../core/errors.ts";
import type { ByteReader } from "../reader.ts";

/**
 * INCIDENT_EVENT (26): something happened on the source that replicas cannot reproduce
 * (e.g. LOST_EVENTS); replication should stop and be checked.
 *   post-header: incident u16 | body: message_len u8 | message
 */
export interface IncidentData {
  type: "incident";
  incident: number;
  incidentName: string;
  message: string;
}

const NAMES: Record<number, string> = { 1: "LOST_EVENTS" };

export function decodeIncident(r: ByteReader): IncidentData {
  const at = r.pos;
  const incident = r.u16("incident type");
  // Servers know incident 1 (LOST_EVENTS) only and reject the event otherwise (MySQL bug 40482).
  if (incident !== 1)
    throw new SluiceError("BINLOG_BAD_VALUE", `incident type ${incident} is not a known incident`, {
      context: { what: "incident type", file: r.file, offset: r.base + at, value: incident },
    });
  const message = r.remaining > 0 ? r.string(r.u8("incident message length"), "incident message") : "";
  r.rest();
  return { type: "incident", incident, incidentName: NAMES[incident]!, message };
}

/** STOP_EVENT (3): the server stopped; the next file starts after its restart. Empty body. */
export interface StopData {
  type: "stop";
}
