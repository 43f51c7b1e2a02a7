import type { ByteReader } from "../reader.ts";
import { EventType, type FormatContext, postHeaderLength } from "../types.ts";

/**
 * ROTATE_EVENT (4): the next binlog file and where to read it.
 *   post-header (binlog v4: 8 bytes): position u64 | body: next file name (no NUL, to the end)
 * With the ARTIFICIAL flag (logPos 0) it is the fake rotate a server sends at the start of a dump,
 * or a relay log's note of the source's file.
 */
export interface RotateData {
  type: "rotate";
  nextPosition: bigint;
  nextFile: string;
}

export function decodeRotate(r: ByteReader, ctx: FormatContext): RotateData {
  const ph = postHeaderLength(ctx, EventType.ROTATE, 8);
  const nextPosition = ph >= 8 ? r.u64("rotate position") : 4n;
  if (ph > 8) r.skip(ph - 8, "rotate post-header");
  const nextFile = r.rest().toString("utf8");
  return { type: "rotate", nextPosition, nextFile };
}

/**
 * The name of the binlog file after `name`: the numeric extension + 1, at least as wide
 * (`mariadb-bin.000044` -> `mariadb-bin.000045`). After `.999999` MariaDB 10.11 writes `.1000000`
 * (seen on a sandbox): the number grows, it does not wrap. Undefined without a numeric extension.
 */
export function nextBinlogFileName(name: string): string | undefined {
  const m = /^(.*\.)(\d+)$/.exec(name);
  if (!m) return undefined;
  const digits = m[2]!;
  const next = BigInt(digits) + 1n;
  return `${m[1]}${next.toString().padStart(digits.length, "0")}`;
}
