import { readFileSync } from "node:fs";

/** TLS settings a mysql:// URL asks for; the shape of both mysql2's `ssl` and the replication client's. */
export interface UrlTls {
  /** PEM CA bundle to trust instead of the system's. */
  ca?: Buffer;
  /** Default true: the server's certificate must verify. */
  rejectUnauthorized: boolean;
}

/** `?ssl=true[&sslCa=FILE][&sslVerify=false]` of a mysql:// URL; undefined without `ssl`. */
export function sslFromParams(params: URLSearchParams): UrlTls | undefined {
  const ssl = params.get("ssl");
  if (ssl === null || ssl === "false" || ssl === "0") return undefined;
  const ca = params.get("sslCa");
  const verify = params.get("sslVerify");
  return {
    ...(ca ? { ca: readFileSync(ca) } : {}),
    rejectUnauthorized: !(verify === "false" || verify === "0"),
  };
}
