import type { ByteReader } from "../reader.ts";

/** XID_EVENT (16): the commit of a transaction on a transactional engine. body: xid u64 */
export interface XidData {
  type: "xid";
  xid: bigint;
}

export function decodeXid(r: ByteReader): XidData {
  return { type: "xid", xid: r.u64("xid") };
}
