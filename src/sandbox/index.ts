/** Throwaway servers for the tests, the demo and `sluice sandbox`, and the shared local brokers. */
export { acceptsTcp, type BrokerKind, type LocalBroker, localBroker } from "./brokers.ts";
export {
  BINLOG_BASENAME,
  type MariadbSandbox,
  type MariadbSandboxOptions,
  REPLICATION_USER,
  startMariadb,
} from "./mariadb.ts";
export { type MemcachedSandbox, type MemcachedSandboxOptions, startMemcached } from "./memcached.ts";
export {
  listSandboxes,
  registeredSandboxStatus,
  type SandboxListing,
  type SandboxRecord,
  type SandboxStatus,
  sandboxRegistryDir,
  startRegisteredMariadb,
  startRegisteredMemcached,
  stopRegisteredSandbox,
} from "./registry.ts";
export { startReplication, waitForReplicaCatchUp } from "./replication.ts";
