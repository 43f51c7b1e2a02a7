import type { ByteReader } from "../reader.ts";

/** INTVAR_EVENT (5): body: kind u8 (1 LAST_INSERT_ID, 2 INSERT_ID) | value u64 */
export interface IntvarData {
  type: "intvar";
  kind: "last_insert_id" | "insert_id" | "invalid";
  value: bigint;
}

export function decodeIntvar(r: ByteReader): IntvarData {
  const k = r.u8("intvar type");
  return {
    type: "intvar",
    kind: k === 1 ? "last_insert_id" : k === 2 ? "insert_id" : "invalid",
    value: r.u64("intvar value"),
  };
}

/** RAND_EVENT (13): the RAND() seeds of the next statement. body: seed1 u64 | seed2 u64 */
export interface RandData {
  type: "rand";
  seed1: bigint;
  seed2: bigint;
}

export function decodeRand(r: ByteReader): RandData {
  return { type: "rand", seed1: r.u64("rand seed1"), seed2: r.u64("rand seed2") };
}
