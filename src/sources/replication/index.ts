/** The replication client: a MySQL/MariaDB replica's view of the binlog (see docs/replication.md). */
export { type ConnectOptions, MysqlConnection, type TlsOptions } from "./connection.ts";
export { type Admission, type ResolvedStop, type ResumePoint, StreamCursor } from "./cursor.ts";
export {
  compareBinlogFiles,
  compareBinlogPositions,
  parseStartSpec,
  parseStopSpec,
  type StartSpec,
  type StopSpec,
} from "./positions.ts";
export {
  BinlogStream,
  type BinlogStreamOptions,
  openBinlogStream,
  type ReconnectOptions,
  type StreamStatus,
} from "./stream.ts";
