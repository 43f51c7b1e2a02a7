import type { ByteReader } from "../reader.ts";

/**
 * Group Replication events, passed on with their basic fields.
 * TRANSACTION_CONTEXT_EVENT (36):
 *   server_uuid_len u8 | thread_id u32 | gtid_specified u8 | snapshot_version_len u32
 *   | write_set_len u32 | read_set_len u32 | server_uuid | (sets follow)
 * VIEW_CHANGE_EVENT (37):
 *   view_id char[40] | seq_number u64 | certification_info_size u32 | (certification info follows)
 */
export interface TransactionContextData {
  type: "transaction_context";
  serverUuid: string;
  threadId: number;
  gtidSpecified: boolean;
}

export function decodeTransactionContext(r: ByteReader): TransactionContextData {
  const uuidLen = r.u8("server_uuid_len");
  const threadId = r.u32("thread_id");
  const gtidSpecified = r.u8("gtid_specified") !== 0;
  r.skip(12, "transaction context set lengths");
  const serverUuid = r.string(uuidLen, "server_uuid", "latin1");
  r.rest();
  return { type: "transaction_context", serverUuid, threadId, gtidSpecified };
}

export interface ViewChangeData {
  type: "view_change";
  viewId: string;
  seqNumber: bigint;
}

export function decodeViewChange(r: ByteReader): ViewChangeData {
  const raw = r.bytes(40, "view_id");
  const nul = raw.indexOf(0);
  const viewId = raw.toString("latin1", 0, nul < 0 ? 40 : nul);
  const seqNumber = r.u64("seq_number");
  r.rest();
  return { type: "view_change", viewId, seqNumber };
}
