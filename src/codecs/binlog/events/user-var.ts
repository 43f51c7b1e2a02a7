import type { ByteReader } from "../reader.ts";
import { charsetOfCollation, decodeText } from "../rows/charsets.ts";
import { decimalBinarySize, decodeDecimal } from "../rows/decimal.ts";

/**
 * USER_VAR_EVENT (14): a user variable the next statement reads.
 *   name_len u32 | name | is_null u8
 *   | if not null: value_type u8 (0 string, 1 real, 2 int, 3 row, 4 decimal) | charset u32
 *     | value_len u32 | value | [flags u8: 1 = UNSIGNED]
 * Decimals are precision u8 | scale u8 | MySQL binary decimal (decoded to their exact string). Strings
 * are decoded for utf8/latin1/ascii charsets and kept as bytes for the others (binary included).
 */
export interface UserVarData {
  type: "user_var";
  name: string;
  isNull: boolean;
  valueType?: "string" | "real" | "int" | "row" | "decimal" | "unknown";
  charset?: number;
  value?: string | number | bigint | Buffer;
  unsigned?: boolean;
}

const TYPES = ["string", "real", "int", "row", "decimal"] as const;

export function decodeUserVar(r: ByteReader): UserVarData {
  const nameLen = r.u32("user var name length");
  const name = r.string(nameLen, "user var name");
  const isNull = r.u8("user var is_null") !== 0;
  if (isNull) {
    r.rest();
    return { type: "user_var", name, isNull };
  }
  const t = r.u8("user var type");
  const charset = r.u32("user var charset");
  const valueLen = r.u32("user var value length");
  const raw = r.bytes(valueLen, "user var value");
  const flags = r.remaining > 0 ? r.u8("user var flags") : 0;
  r.rest();
  const unsigned = (flags & 1) !== 0;
  const valueType = TYPES[t] ?? "unknown";
  let value: UserVarData["value"] = raw;
  if (valueType === "string") {
    const cs = charsetOfCollation(charset);
    if (cs.startsWith("utf8") || cs === "latin1" || cs === "ascii")
      value = decodeText(raw, 0, raw.length, cs);
  } else if (valueType === "decimal" && raw.length >= 2) {
    const precision = raw[0]!;
    const scale = raw[1]!;
    if (scale <= precision && decimalBinarySize(precision, scale) <= raw.length - 2)
      value = decodeDecimal(raw, 2, precision, scale);
  } else if (valueType === "real" && raw.length === 8) value = raw.readDoubleLE(0);
  else if (valueType === "int" && raw.length === 8)
    value = unsigned ? raw.readBigUInt64LE(0) : raw.readBigInt64LE(0);
  return { type: "user_var", name, isNull, valueType, charset, value, unsigned };
}
