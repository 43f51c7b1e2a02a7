import type { ByteReader } from "../reader.ts";

/**
 * LOAD DATA INFILE in statement format: the file travels in blocks, then a query loads it.
 *   BEGIN_LOAD_QUERY_EVENT (17), APPEND_BLOCK_EVENT (9): file_id u32 | block data (to the end)
 *   DELETE_FILE_EVENT (11), EXEC_LOAD_EVENT (10): file_id u32
 * (EXECUTE_LOAD_QUERY_EVENT (18) is a query event with extra post-header fields: see query.ts.)
 */
export interface LoadBlockData {
  type: "begin_load_query" | "append_block";
  fileId: number;
  data: Buffer;
}

export interface LoadFileData {
  type: "delete_file" | "exec_load";
  fileId: number;
}

export function decodeLoadBlock(r: ByteReader, type: LoadBlockData["type"]): LoadBlockData {
  const fileId = r.u32("file_id");
  return { type, fileId, data: r.rest() };
}

export function decodeLoadFile(r: ByteReader, type: LoadFileData["type"]): LoadFileData {
  const fileId = r.u32("file_id");
  r.rest();
  return { type, fileId };
}

/**
 * START_EVENT_V3 (1), the first event of binlog v1/v3 files (MySQL < 5.0):
 *   binlog_version u16 | server_version char[50] | create_timestamp u32
 */
export interface StartV3Data {
  type: "start_v3";
  binlogVersion: number;
  serverVersion: string;
  createTimestamp: number;
}

export function decodeStartV3(r: ByteReader): StartV3Data {
  const binlogVersion = r.u16("binlog_version");
  const raw = r.bytes(50, "server_version");
  const nul = raw.indexOf(0);
  const createTimestamp = r.u32("create_timestamp");
  r.rest();
  return {
    type: "start_v3",
    binlogVersion,
    serverVersion: raw.toString("latin1", 0, nul < 0 ? 50 : nul),
    createTimestamp,
  };
}
