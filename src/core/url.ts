import { SluiceError } from "./errors.ts";
/** Connection targets are URLs; their passwords never reach a log line or an error message. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
  }
}

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string | undefined;
  socketPath: string | undefined;
}

/**
 * Parses `mysql://user[:password]@host[:port][/database][?socket=/path]`. The password may instead come
 * from the environment variable named by `passwordEnv` (default SLUICE_MYSQL_PASSWORD), which wins
 * over nothing but never over an explicit URL password.
 */
export function parseMysqlUrl(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  passwordEnv = "SLUICE_MYSQL_PASSWORD",
): MysqlTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SluiceError("USAGE_MYSQL_URL", `not a URL: ${redactUrl(url)}`, {
      hint: "write mysql://user[:password]@host[:port][/database] (the password may come from SLUICE_MYSQL_PASSWORD)",
    });
  }
  if (u.protocol !== "mysql:" && u.protocol !== "mariadb:") {
    throw new SluiceError("USAGE_MYSQL_URL", `unsupported scheme ${u.protocol} in ${redactUrl(url)}`, {
      hint: "write mysql://user[:password]@host[:port][/database] (or mariadb://)",
    });
  }
  const password = u.password ? decodeURIComponent(u.password) : env[passwordEnv];
  const db = u.pathname.replace(/^\//, "");
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 3306,
    user: u.username ? decodeURIComponent(u.username) : "root",
    password: password === "" ? undefined : password,
    database: db ? decodeURIComponent(db) : undefined,
    socketPath: u.searchParams.get("socket") ?? undefined,
  };
}
