import { SluiceError } from "../../../core/errors.ts";
import type { ByteReader } from "../reader.ts";
import {
  ChecksumAlgorithm,
  type ChecksumAlgorithmCode,
  COMMON_HEADER_LENGTH,
  type FormatContext,
  type ServerFlavor,
} from "../types.ts";

/**
 * FORMAT_DESCRIPTION_EVENT (15), the first event of every v4 binlog:
 *   binlog_version u16 | server_version char[50] (NUL padded) | create_timestamp u32
 *   | common_header_length u8 | post_header_length u8[number of event types] (index 0 = type 1)
 *   | checksum_alg u8 (servers >= MySQL 5.6.1 / MariaDB 5.3) | CRC32 u32 (always room for it then)
 * The checksum byte and its 4-byte room are present whenever the server version supports checksums,
 * even with checksums off; the event's own CRC is valid only when checksum_alg = CRC32.
 */
export interface FormatDescriptionData {
  type: "format_description";
  binlogVersion: number;
  serverVersion: string;
  createTimestamp: number;
  commonHeaderLength: number;
  flavor: ServerFlavor;
  checksum: ChecksumAlgorithmCode;
}

/** `[major, minor, patch]` from a server version string such as `10.11.6-MariaDB-log` or `5.5.5-10.3.1-MariaDB`. */
export function parseServerVersion(version: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function flavorOf(serverVersion: string): ServerFlavor {
  return /mariadb/i.test(serverVersion) ? "mariadb" : "mysql";
}

/** Whether a server of this version writes the checksum-algorithm byte in its FORMAT_DESCRIPTION_EVENT. */
export function hasChecksumByte(serverVersion: string, flavor: ServerFlavor): boolean {
  const [a, b, c] = parseServerVersion(serverVersion);
  const v = a * 10000 + b * 100 + c;
  return flavor === "mariadb" ? v >= 50300 : v >= 50601;
}

/**
 * Decodes the event from `r` positioned at the body; `bodyEnd` includes any checksum (which the
 * format description's own bytes decide). Returns the data and the new FormatContext.
 */
export function decodeFormatDescription(r: ByteReader): { data: FormatDescriptionData; ctx: FormatContext } {
  const binlogVersion = r.u16("binlog_version");
  const rawVersion = r.bytes(50, "server_version");
  const nul = rawVersion.indexOf(0);
  const serverVersion = rawVersion.toString("latin1", 0, nul < 0 ? 50 : nul);
  const createTimestamp = r.u32("create_timestamp");
  const commonHeaderLength = r.u8("common_header_length");
  if (commonHeaderLength < COMMON_HEADER_LENGTH)
    throw new SluiceError(
      "BINLOG_BAD_VALUE",
      `format description: common header length ${commonHeaderLength} is below ${COMMON_HEADER_LENGTH}`,
      { context: { what: "common_header_length", file: r.file, offset: r.base + r.pos - 1 } },
    );
  const flavor = flavorOf(serverVersion);
  let checksum: ChecksumAlgorithmCode = ChecksumAlgorithm.UNDEFINED;
  let n = r.remaining;
  if (hasChecksumByte(serverVersion, flavor)) {
    r.need(5, "checksum_alg and checksum");
    n -= 5;
    const alg = r.buf[r.pos + n]!;
    checksum =
      alg === 1 ? ChecksumAlgorithm.CRC32 : alg === 0 ? ChecksumAlgorithm.OFF : ChecksumAlgorithm.UNDEFINED;
  }
  const lens = r.bytes(n, "post_header_lengths");
  const postHeaderLengths = new Uint8Array(n + 1);
  postHeaderLengths.set(lens, 1);
  r.rest();
  return {
    data: {
      type: "format_description",
      binlogVersion,
      serverVersion,
      createTimestamp,
      commonHeaderLength,
      flavor,
      checksum,
    },
    ctx: { binlogVersion, serverVersion, flavor, commonHeaderLength, postHeaderLengths, checksum },
  };
}
