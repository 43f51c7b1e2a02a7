/** The binlog codec: event decoding (pure: bytes in, events out), GTID notations, output forms. */
export {
  BinlogEventDecoder,
  type BinlogEventDecoderOptions,
  decodeEventHeader,
  type EventSource,
  type RowsCodec,
} from "./decoder.ts";
export type { FormatDescriptionData } from "./events/format-description.ts";
export type { HeartbeatData } from "./events/heartbeat.ts";
export type { MariadbGtidData, MariadbGtidListData } from "./events/mariadb-gtid.ts";
export type { MysqlGtidData, PreviousGtidsData } from "./events/mysql-gtid.ts";
export type { QueryData, QueryStatus } from "./events/query.ts";
export { nextBinlogFileName, type RotateData } from "./events/rotate.ts";
export * from "./events.ts";
export { BinlogFramer, type FramedEvent, MAX_EVENT_SIZE } from "./framer.ts";
export * from "./gtid.ts";
export { mariadbUncompress } from "./mariadb-compression.ts";
export { bigintToJson, eventToJson, eventToText, valueToJson } from "./output.ts";
export { ByteReader } from "./reader.ts";
export * from "./types.ts";
