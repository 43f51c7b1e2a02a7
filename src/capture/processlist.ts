import mysql from "mysql2/promise";
import { messageOf, SluiceError } from "../core/errors.ts";
import { parseMysqlUrl, redactUrl } from "../core/url.ts";
import type { KnownSession } from "./mysql-session.ts";

/**
 * The server's processlist at capture start, by client endpoint: what a passive capture cannot learn
 * for connections opened before it (their handshake carried the user and default database). MRTE did
 * the same. Only connections from TCP clients are listed (HOST "ip:port").
 */
export async function processlistSnapshot(url: string): Promise<Map<string, KnownSession>> {
  const target = parseMysqlUrl(url);
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      ...(target.password !== undefined ? { password: target.password } : {}),
      ...(target.socketPath !== undefined ? { socketPath: target.socketPath } : {}),
    });
    const [rows] = await conn.query("SELECT ID, USER, HOST, DB FROM information_schema.PROCESSLIST");
    const out = new Map<string, KnownSession>();
    for (const r of rows as { ID: number; USER: string; HOST: string; DB: string | null }[]) {
      const host = r.HOST ?? "";
      // IPv6 clients are listed as "::1:port" or "[::1]:port"; normalise to the capture's form.
      const m = /^\[?(.*?)\]?:(\d+)$/.exec(host);
      if (!m) continue;
      const ip = m[1]!;
      const key = ip.includes(":") ? `[${ip}]:${m[2]}` : `${ip}:${m[2]}`;
      out.set(key, { user: r.USER, db: r.DB ?? undefined, connectionId: Number(r.ID) });
    }
    return out;
  } catch (e) {
    throw new SluiceError("CAPTURE_PROCESSLIST", `cannot read the processlist: ${messageOf(e)}`, {
      context: { url: redactUrl(url) },
      hint: "the account needs the PROCESS privilege to see other users' connections",
      cause: e,
    });
  } finally {
    await conn?.end().catch(() => {});
  }
}
