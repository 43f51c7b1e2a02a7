/** Throwaway servers for the tests, the demo and `sluice sandbox`. */
export {
  BINLOG_BASENAME,
  type MariadbSandbox,
  type MariadbSandboxOptions,
  REPLICATION_USER,
  startMariadb,
} from "./mariadb.ts";
