/**
 * The decoded binlog event: a discriminated union on `type` (the snake_case event name), each with
 * its common header, its position and its own fields.
 */
import type { FormatDescriptionData } from "./events/format-description.ts";
import type { TransactionContextData, ViewChangeData } from "./events/group-replication.ts";
import type { HeartbeatData } from "./events/heartbeat.ts";
import type { IncidentData, StopData } from "./events/incident.ts";
import type { IntvarData, RandData } from "./events/intvar.ts";
import type { LoadBlockData, LoadFileData, StartV3Data } from "./events/load.ts";
import type {
  MariadbAnnotateRowsData,
  MariadbBinlogCheckpointData,
  MariadbGtidData,
  MariadbGtidListData,
  MariadbStartEncryptionData,
} from "./events/mariadb-gtid.ts";
import type { MysqlGtidData, PreviousGtidsData } from "./events/mysql-gtid.ts";
import type { ExecuteLoadQueryData, QueryData } from "./events/query.ts";
import type { RotateData } from "./events/rotate.ts";
import type { RowsQueryData } from "./events/rows-query.ts";
import type { TransactionPayloadData } from "./events/transaction-payload.ts";
import type { UserVarData } from "./events/user-var.ts";
import type { XaPrepareData } from "./events/xa-prepare.ts";
import type { XidData } from "./events/xid.ts";
import type { RowsEvent, TableMapEvent } from "./rows/types.ts";
import type { BinlogPosition, EventHeader } from "./types.ts";

/** Where an event is: for events inside a TRANSACTION_PAYLOAD, the payload event's offset/next plus the inner offset. */
export interface EventPosition extends BinlogPosition {
  /** Offset of the event inside the uncompressed transaction payload. */
  payloadOffset?: number;
}

export interface EventCommon {
  header: EventHeader;
  position: EventPosition;
  /** The GTID of the transaction this event belongs to, in the server's notation (set by the decoder). */
  gtid?: string;
}

export interface TableMapData {
  type: "table_map";
  /** The decoded table map; undefined when no rows codec is plugged in (then `raw` holds the body). */
  tableMap?: TableMapEvent;
  raw?: Buffer;
}

export type RowsTypeName =
  | "write_rows_v1"
  | "update_rows_v1"
  | "delete_rows_v1"
  | "write_rows_v2"
  | "update_rows_v2"
  | "delete_rows_v2"
  | "partial_update_rows"
  | "mariadb_write_rows_compressed_v1"
  | "mariadb_update_rows_compressed_v1"
  | "mariadb_delete_rows_compressed_v1"
  | "mariadb_write_rows_compressed"
  | "mariadb_update_rows_compressed"
  | "mariadb_delete_rows_compressed";

export interface RowsData {
  type: RowsTypeName;
  typeCode: number;
  /** The decoded rows; undefined when no rows codec is plugged in (then `raw` holds the body). */
  rows?: RowsEvent;
  raw?: Buffer;
}

/** Events passed on as bytes: legacy and ignorable ones, and type codes this decoder does not know. */
export type RawTypeName =
  | "unknown"
  | "ignorable"
  | "load"
  | "new_load"
  | "create_file"
  | "slave"
  | "pre_ga_write_rows"
  | "pre_ga_update_rows"
  | "pre_ga_delete_rows"
  | "mariadb_partial_row_data";

export interface RawData {
  type: RawTypeName;
  typeCode: number;
  raw: Buffer;
  /** The IGNORABLE header flag was set: a replica may skip the event. */
  ignorable?: boolean;
}

export interface TransactionPayloadEventData extends TransactionPayloadData {
  /** The inner events, decoded in order. */
  events: BinlogEvent[];
}

export type BinlogEventData =
  | FormatDescriptionData
  | StartV3Data
  | RotateData
  | QueryData
  | ExecuteLoadQueryData
  | XidData
  | IntvarData
  | RandData
  | UserVarData
  | StopData
  | IncidentData
  | HeartbeatData
  | RowsQueryData
  | MysqlGtidData
  | PreviousGtidsData
  | XaPrepareData
  | TransactionContextData
  | ViewChangeData
  | TransactionPayloadEventData
  | MariadbGtidData
  | MariadbGtidListData
  | MariadbBinlogCheckpointData
  | MariadbAnnotateRowsData
  | MariadbStartEncryptionData
  | LoadBlockData
  | LoadFileData
  | TableMapData
  | RowsData
  | RawData;

export type BinlogEvent = EventCommon & BinlogEventData;

/** The event type(s) whose `type` can be `T` (works for data shapes shared by several type names). */
export type EventOfType<T extends BinlogEvent["type"]> = BinlogEvent extends infer E
  ? E extends { type: infer U }
    ? T extends U
      ? E & { type: T }
      : never
    : never
  : never;

/** Narrows an event by its type name. */
export function isEventType<T extends BinlogEvent["type"]>(ev: BinlogEvent, type: T): ev is EventOfType<T> {
  return ev.type === type;
}

/** The event followed by the inner events of a transaction payload, in stream order. */
export function* flattenEvents(ev: BinlogEvent): Generator<BinlogEvent> {
  yield ev;
  if (ev.type === "transaction_payload")
    for (const inner of (ev as TransactionPayloadEventData).events) yield inner;
}
