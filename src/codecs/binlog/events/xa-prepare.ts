import type { ByteReader } from "../reader.ts";

/**
 * XA_PREPARE_LOG_EVENT (38, MySQL): the end of an XA PREPAREd (or one-phase committed) transaction.
 *   one_phase u8 | format_id u32 | gtrid_length u32 | bqual_length u32 | data[gtrid + bqual]
 */
export interface XaPrepareData {
  type: "xa_prepare";
  onePhase: boolean;
  formatId: number;
  gtrid: string;
  bqual: string;
}

export function decodeXaPrepare(r: ByteReader): XaPrepareData {
  const onePhase = r.u8("xa one_phase") !== 0;
  const formatId = r.u32("xa format_id");
  const gl = r.u32("xa gtrid_length");
  const bl = r.u32("xa bqual_length");
  return {
    type: "xa_prepare",
    onePhase,
    formatId,
    gtrid: r.string(gl, "xa gtrid", "latin1"),
    bqual: r.string(bl, "xa bqual", "latin1"),
  };
}
