/**
 * The pooled root connection behind `MariadbSandbox.query`. Its sockets hold the owner's event loop
 * only while a query runs: an idle pool must not keep a process alive, or a test that forgets to stop
 * its sandbox would hang instead of exiting (whereupon the sandbox is killed and removed).
 */
import { connect, type Socket } from "node:net";
import mysql from "mysql2/promise";

export interface SandboxPool {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  end(): Promise<void>;
}

export function createSandboxPool(port: number): SandboxPool {
  const sockets = new Set<Socket>();
  let inFlight = 0;
  const pool = mysql.createPool({
    host: "127.0.0.1",
    port,
    user: "root",
    charset: "utf8mb4",
    connectionLimit: 4,
    stream: () => {
      const s = connect(port, "127.0.0.1");
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
      if (inFlight === 0) s.unref();
      return s;
    },
  });
  return {
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      if (++inFlight === 1) for (const s of sockets) s.ref();
      try {
        const [rows] = await pool.query(sql, params);
        return (Array.isArray(rows) ? rows : [rows]) as T[];
      } finally {
        if (--inFlight === 0) for (const s of sockets) s.unref();
      }
    },
    end: () => pool.end(),
  };
}
