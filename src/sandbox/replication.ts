/**
 * Native MariaDB replication between sandboxes: the reference a Sluice apply is compared with.
 * GTID-based (MASTER_USE_GTID=slave_pos), through the source's replication user.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { SluiceError } from "../core/errors.ts";
import type { MariadbSandbox } from "./mariadb.ts";

interface SlaveStatusRow {
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
  Last_IO_Error: string;
  Last_SQL_Error: string;
}

/**
 * Makes `replica` replicate from `source` (from the start of the source's binlog history, so all
 * that the source wrote arrives) and waits until both replication threads run.
 */
export async function startReplication(
  replica: MariadbSandbox,
  source: Pick<MariadbSandbox, "port" | "replicationUrl">,
  timeoutMs = 30_000,
): Promise<void> {
  const u = new URL(source.replicationUrl);
  await replica.query("STOP SLAVE");
  await replica.query("SET GLOBAL gtid_slave_pos = ''");
  await replica.query(
    "CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
    [u.hostname, source.port, decodeURIComponent(u.username), decodeURIComponent(u.password)],
  );
  await replica.query("START SLAVE");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [st] = await replica.query<SlaveStatusRow>("SHOW SLAVE STATUS");
    if (st?.Slave_IO_Running === "Yes" && st.Slave_SQL_Running === "Yes") return;
    const error = st?.Last_IO_Error || st?.Last_SQL_Error;
    if (error || Date.now() > deadline) {
      throw new SluiceError(
        "SANDBOX_REPLICATION_FAILED",
        `replica ${replica.name} does not replicate from port ${source.port}`,
        {
          context: { replicaPort: replica.port, io: st?.Slave_IO_Running, sql: st?.Slave_SQL_Running },
          hint: error || "replication threads did not start in time; see SHOW SLAVE STATUS on the replica",
        },
      );
    }
    await sleep(50);
  }
}

/** Waits until `replica` has applied everything `source` has binlogged so far. */
export async function waitForReplicaCatchUp(
  replica: MariadbSandbox,
  source: MariadbSandbox,
  timeoutMs = 30_000,
): Promise<void> {
  const [pos] = await source.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
  const gtid = pos?.pos ?? "";
  if (gtid === "") return;
  const [r] = await replica.query<{ r: number | null }>("SELECT MASTER_GTID_WAIT(?, ?) AS r", [
    gtid,
    timeoutMs / 1000,
  ]);
  if (r?.r !== 0) {
    throw new SluiceError("SANDBOX_REPLICATION_LAG", `replica ${replica.name} did not reach ${gtid}`, {
      context: { replicaPort: replica.port, sourcePort: source.port, timeoutMs },
      hint: "see SHOW SLAVE STATUS on the replica",
    });
  }
}
