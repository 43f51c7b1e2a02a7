// Test-only binlog walker: just enough of the event layer (header, FORMAT_DESCRIPTION, checksum) to
// hand TABLE_MAP and rows event bodies to the row layer.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { EventType, type FormatContext } from "../../../../src/codecs/binlog/types.ts";

export interface RawEvent {
  offset: number;
  typeCode: number;
  timestamp: number;
  body: Buffer;
}

export const FIXTURES = new URL("../../../../../shared/fixtures/binlog/", import.meta.url).pathname;

function versionAtLeast(v: string, major: number, minor: number, patch: number): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) return false;
  const a = [Number(m[1]), Number(m[2]), Number(m[3])];
  const b = [major, minor, patch];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
}

export function parseFde(body: Buffer): FormatContext {
  const binlogVersion = body.readUInt16LE(0);
  const serverVersion = body.toString("latin1", 2, 52).replace(/\0.*$/s, "");
  const headerLength = body[56]!;
  const mariadb = /mariadb/i.test(serverVersion);
  const hasChecksumByte = mariadb
    ? versionAtLeast(serverVersion, 5, 3, 0)
    : versionAtLeast(serverVersion, 5, 6, 1);
  const end = hasChecksumByte ? body.length - 5 : body.length;
  const checksum = hasChecksumByte ? body[body.length - 5]! : 0;
  const postHeaderLengths = new Uint8Array(256);
  const lens = body.subarray(57, end);
  for (let i = 0; i < lens.length; i++) postHeaderLengths[i + 1] = lens[i]!;
  return {
    binlogVersion,
    serverVersion,
    flavor: mariadb ? "mariadb" : "mysql",
    commonHeaderLength: headerLength,
    postHeaderLengths,
    checksum: checksum === 1 ? 1 : 0,
  };
}

/** Reads every event of a binlog file (file name relative to the fixtures or absolute). */
export function walkBinlog(
  file: string,
  buf?: Buffer,
): { ctx: FormatContext; events: RawEvent[]; name: string } {
  const data = buf ?? readFileSync(file.startsWith("/") ? file : FIXTURES + file);
  let pos = 4;
  let ctx: FormatContext | undefined;
  const events: RawEvent[] = [];
  while (pos + 19 <= data.length) {
    const size = data.readUInt32LE(pos + 9);
    if (size < 19 || pos + size > data.length) break;
    const typeCode = data[pos + 4]!;
    let bodyEnd = pos + size;
    if (ctx?.checksum === 1 || (typeCode === EventType.FORMAT_DESCRIPTION && ctx === undefined)) {
      // FDE: decide after parsing; other events: strip the CRC32.
    }
    if (typeCode === EventType.FORMAT_DESCRIPTION) {
      ctx = parseFde(data.subarray(pos + 19, pos + size));
      if (ctx.checksum === 1) bodyEnd -= 4;
    } else if (ctx?.checksum === 1) {
      bodyEnd -= 4;
    }
    events.push({
      offset: pos,
      typeCode,
      timestamp: data.readUInt32LE(pos),
      body: data.subarray(pos + 19, bodyEnd),
    });
    pos += size;
  }
  if (ctx === undefined) throw new Error(`no FORMAT_DESCRIPTION in ${file}`);
  return { ctx, events, name: basename(file) };
}
