import type { ByteReader } from "../reader.ts";

/**
 * MariaDB GTID_EVENT (162), the start of an event group (transaction or stand-alone DDL):
 *   seq_no u64 | domain_id u32 | flags u8
 *   | if FL_GROUP_COMMIT_ID: commit_id u64
 *   | if FL_PREPARED_XA or FL_COMPLETED_XA: format_id u32 | gtrid_len u8 | bqual_len u8 | xid data
 *   | zero padding to the 19-byte post-header when neither is present
 *   | (10.5+, when bytes remain, read right after the fields above) flags_extra u8 | [extra_engines u8 if FL_EXTRA_MULTI_ENGINE]
 *     | [sa_seq_no u64 if FL_COMMIT_ALTER or FL_ROLLBACK_ALTER]
 * The GTID's server id is the common header's server_id.
 */
export const MariadbGtidFlag = {
  STANDALONE: 1,
  GROUP_COMMIT_ID: 2,
  TRANSACTIONAL: 4,
  ALLOW_PARALLEL: 8,
  WAITED: 16,
  DDL: 32,
  PREPARED_XA: 64,
  COMPLETED_XA: 128,
} as const;

export const MariadbGtidExtraFlag = {
  MULTI_ENGINE: 1,
  START_ALTER: 2,
  COMMIT_ALTER: 4,
  ROLLBACK_ALTER: 8,
} as const;

export interface XaId {
  formatId: number;
  gtrid: string;
  bqual: string;
}

export interface MariadbGtidData {
  type: "mariadb_gtid";
  seqNo: bigint;
  domainId: number;
  flags: number;
  /** Transactions with the same commit id were group-committed together and may be applied in parallel. */
  commitId?: bigint;
  xa?: XaId;
  flagsExtra?: number;
  extraEngines?: number;
  /** Sequence number of the START ALTER that this COMMIT/ROLLBACK ALTER completes. */
  startAlterSeqNo?: bigint;
  standalone: boolean;
}

export function decodeMariadbGtid(r: ByteReader): MariadbGtidData {
  const seqNo = r.u64("gtid seq_no");
  const domainId = r.u32("gtid domain_id");
  const flags = r.u8("gtid flags");
  const d: MariadbGtidData = {
    type: "mariadb_gtid",
    seqNo,
    domainId,
    flags,
    standalone: (flags & MariadbGtidFlag.STANDALONE) !== 0,
  };
  if (flags & MariadbGtidFlag.GROUP_COMMIT_ID) d.commitId = r.u64("gtid commit_id");
  if (flags & (MariadbGtidFlag.PREPARED_XA | MariadbGtidFlag.COMPLETED_XA)) {
    const formatId = r.u32("xid format_id");
    const gl = r.u8("xid gtrid_length");
    const bl = r.u8("xid bqual_length");
    d.xa = {
      formatId,
      gtrid: r.string(gl, "xid gtrid", "latin1"),
      bqual: r.string(bl, "xid bqual", "latin1"),
    };
  }
  // The server reads flags_extra right after what the flags announced; without a commit id that
  // byte is the zero padding of the 19-byte post-header (flags_extra = 0).
  if (r.remaining > 0) {
    const fe = r.u8("gtid flags_extra");
    d.flagsExtra = fe;
    if (fe & MariadbGtidExtraFlag.MULTI_ENGINE) d.extraEngines = r.u8("gtid extra_engines");
    if (fe & (MariadbGtidExtraFlag.COMMIT_ALTER | MariadbGtidExtraFlag.ROLLBACK_ALTER))
      d.startAlterSeqNo = r.u64("gtid sa_seq_no");
  }
  r.rest();
  return d;
}

/**
 * MariaDB GTID_LIST_EVENT (163): the binlog state at the start of a file.
 *   count u32 (low 28 bits; the top 4 are flags) | count x (domain_id u32 | server_id u32 | seq_no u64)
 */
export interface MariadbGtidListData {
  type: "mariadb_gtid_list";
  flags: number;
  gtids: Array<{ domainId: number; serverId: number; seqNo: bigint }>;
}

export function decodeMariadbGtidList(r: ByteReader): MariadbGtidListData {
  const word = r.u32("gtid list count");
  const count = word & 0x0fffffff;
  r.need(count * 16, "gtid list entries");
  const gtids: MariadbGtidListData["gtids"] = [];
  for (let i = 0; i < count; i++) {
    const domainId = r.u32("gtid list domain_id");
    const serverId = r.u32("gtid list server_id");
    gtids.push({ domainId, serverId, seqNo: r.u64("gtid list seq_no") });
  }
  return { type: "mariadb_gtid_list", flags: word >>> 28, gtids };
}

/**
 * MariaDB BINLOG_CHECKPOINT_EVENT (161): the oldest binlog file still needed for crash recovery.
 *   post-header: file name length u32 | body: file name
 */
export interface MariadbBinlogCheckpointData {
  type: "mariadb_binlog_checkpoint";
  binlogFile: string;
}

export function decodeMariadbBinlogCheckpoint(r: ByteReader): MariadbBinlogCheckpointData {
  const n = r.u32("checkpoint file name length");
  return { type: "mariadb_binlog_checkpoint", binlogFile: r.string(n, "checkpoint file name") };
}

/** MariaDB ANNOTATE_ROWS_EVENT (160): the statement that produced the following row events. body: query text */
export interface MariadbAnnotateRowsData {
  type: "mariadb_annotate_rows";
  query: string;
}

export function decodeMariadbAnnotateRows(r: ByteReader): MariadbAnnotateRowsData {
  return { type: "mariadb_annotate_rows", query: r.rest().toString("utf8") };
}

/**
 * MariaDB START_ENCRYPTION_EVENT (164): everything after it in the file is encrypted.
 *   scheme u8 | key_version u32 | nonce 12 bytes
 */
export interface MariadbStartEncryptionData {
  type: "mariadb_start_encryption";
  scheme: number;
  keyVersion: number;
  nonce: Buffer;
}

export function decodeMariadbStartEncryption(r: ByteReader): MariadbStartEncryptionData {
  return {
    type: "mariadb_start_encryption",
    scheme: r.u8("encryption scheme"),
    keyVersion: r.u32("encryption key_version"),
    nonce: r.bytes(12, "encryption nonce"),
  };
}
