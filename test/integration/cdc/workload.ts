// The seed's benchmark workload, scalable: INSERTs of 100 rows, UPDATEs of 100 rows, DELETEs of
// 100 rows, half of them on tracked tables. Shared by the CDC integration tests and bench/cdc.ts.

export interface Workload {
  /** Statements of each kind (INSERT, UPDATE, DELETE), split evenly over the tracked and untracked table. */
  statements: number;
  rowsPerStatement: number;
}

export const TRACKED = "bench.tracked";
export const UNTRACKED = "bench.untracked";

/** What the history store must hold when only the tracked table is collected. */
export function expectedCounts(w: Workload): { binlog: number; row: number; column: number } {
  const perTable = w.statements / 2;
  const rows = perTable * w.rowsPerStatement;
  // Inserts carry 4 columns, updates the 1 changed column, deletes 4 columns.
  return { binlog: perTable * 3, row: rows * 3, column: rows * 4 + rows * 1 + rows * 4 };
}

export const SETUP = [
  "CREATE DATABASE IF NOT EXISTS bench",
  ...[TRACKED, UNTRACKED].map(
    (t) => `CREATE TABLE IF NOT EXISTS ${t} (
      id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      data VARCHAR(255), data2 VARCHAR(255), admin_id VARCHAR(255), KEY (admin_id)
    ) ENGINE=InnoDB`,
  ),
];

const pad = (s: string, n: number) => s.repeat(Math.ceil(n / s.length)).slice(0, n);

/** The statements in the order the seed ran them: all INSERTs, then all UPDATEs, then all DELETEs. */
export function* workloadStatements(w: Workload): Generator<string> {
  const half = w.statements / 2;
  const admin = (i: number) => `admin_${String(i).padStart(4, "0")}`;
  for (const kind of ["insert", "update", "delete"] as const) {
    for (let i = 0; i < w.statements; i++) {
      const table = i % 2 === 0 ? TRACKED : UNTRACKED;
      const a = admin(Math.floor(i / 2) % half);
      if (kind === "insert") {
        const values: string[] = [];
        for (let r = 0; r < w.rowsPerStatement; r++)
          values.push(`('${pad(`d${i}-${r}-`, 200)}', '${pad(`e${i}-${r}-`, 200)}', '${a}')`);
        yield `INSERT INTO ${table} (data, data2, admin_id) VALUES ${values.join(", ")}`;
      } else if (kind === "update") {
        yield `UPDATE ${table} SET data = '${pad(`u${i}-`, 200)}' WHERE admin_id IN ('${a}')`;
      } else {
        yield `DELETE FROM ${table} WHERE admin_id IN ('${a}')`;
      }
    }
  }
}
