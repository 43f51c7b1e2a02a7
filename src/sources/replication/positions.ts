import { GtidSet, MariadbGtidPosition } from "../../codecs/binlog/gtid.ts";
import { SluiceError } from "../../core/errors.ts";

/**
 * Where a binlog stream starts and stops, as users write it (`--start`, `--stop`), and the order of
 * binlog files. GTID notations are parsed by the binlog codec (codecs/binlog/gtid.ts).
 */

export type StartSpec =
  | { kind: "now" }
  | { kind: "earliest" }
  | { kind: "file"; file: string; offset: number }
  | { kind: "mariadb-gtid"; position: MariadbGtidPosition }
  | { kind: "mysql-gtid"; set: GtidSet };

export type StopSpec =
  | { kind: "head" }
  | { kind: "file"; file: string; offset: number }
  | { kind: "mariadb-gtid"; position: MariadbGtidPosition }
  | { kind: "mysql-gtid"; set: GtidSet };

const GTID_LIST = /^\d+-\d+-\d+(\s*,\s*\d+-\d+-\d+)*$/;
const UUID_PREFIX = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}:/i;
const FILE_OFFSET = /^([^\s:,'"\\]+):(\d{1,19})$/;

function usage(what: string, value: string, hint: string, cause?: unknown): SluiceError {
  return new SluiceError("USAGE_BINLOG_POSITION", `${what} '${value}' is not understood`, { hint, cause });
}

const START_HINT =
  "use now, earliest, FILE:OFFSET (mariadb-bin.000003:4), a MariaDB GTID position (0-1-7140 or 0-1-7140,1-2-33) or a MySQL GTID set (uuid:1-100)";

function gtidPosition(text: string): MariadbGtidPosition {
  try {
    return MariadbGtidPosition.parse(text);
  } catch (e) {
    throw usage("MariaDB GTID position", text, "domain-server-sequence per domain, e.g. 0-1-7140,1-2-33", e);
  }
}

function gtidSet(text: string): GtidSet {
  try {
    return GtidSet.parse(text);
  } catch (e) {
    throw usage(
      "MySQL GTID set",
      text,
      "uuid:interval[:interval...], e.g. 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
      e,
    );
  }
}

export function parseStartSpec(text: string): StartSpec {
  const t = text.trim();
  if (t === "now") return { kind: "now" };
  if (t === "earliest") return { kind: "earliest" };
  if (GTID_LIST.test(t)) return { kind: "mariadb-gtid", position: gtidPosition(t) };
  if (UUID_PREFIX.test(t)) return { kind: "mysql-gtid", set: gtidSet(t) };
  const m = FILE_OFFSET.exec(t);
  if (m) {
    const offset = Number(m[2]);
    if (offset < 4 || offset > 0xffffffff)
      throw usage("binlog offset", t, "an offset is 4 (the first event) or more");
    return { kind: "file", file: m[1]!, offset };
  }
  throw usage("start position", text, START_HINT);
}

export function parseStopSpec(text: string): StopSpec {
  const t = text.trim();
  if (t === "head") return { kind: "head" };
  if (GTID_LIST.test(t)) return { kind: "mariadb-gtid", position: gtidPosition(t) };
  if (UUID_PREFIX.test(t)) return { kind: "mysql-gtid", set: gtidSet(t) };
  const m = FILE_OFFSET.exec(t);
  if (m) return { kind: "file", file: m[1]!, offset: Number(m[2]) };
  throw usage(
    "stop position",
    text,
    "use head (the server's head when the stream starts), FILE:OFFSET, a MariaDB GTID position (0-1-7140) or a MySQL GTID set (uuid:1-100)",
  );
}

/** Splits `mariadb-bin.000044` into its base and numeric extension (undefined without one). */
function splitFileName(name: string): { base: string; seq: number; width: number } | undefined {
  const m = /^(.*)\.(\d+)$/.exec(name);
  if (!m) return undefined;
  return { base: m[1]!, seq: Number(m[2]), width: m[2]!.length };
}

/** Orders binlog files as the server does: by numeric extension (names of one server share a base). */
export function compareBinlogFiles(a: string, b: string): number {
  if (a === b) return 0;
  const pa = splitFileName(a);
  const pb = splitFileName(b);
  if (pa && pb && pa.base === pb.base) return pa.seq - pb.seq;
  return a < b ? -1 : 1;
}

export function compareBinlogPositions(
  a: { file: string; offset: number },
  b: { file: string; offset: number },
): number {
  return compareBinlogFiles(a.file, b.file) || a.offset - b.offset;
}
