import { inflateSync } from "node:zlib";
import { messageOf, SluiceError } from "../../core/errors.ts";

/**
 * MariaDB's compressed binlog payload (log_bin_compress; QUERY_COMPRESSED and the *_ROWS_COMPRESSED
 * events): one header byte `1 alg(3 bits) 0 lenlen(3 bits)` - high bit set, algorithm 0 = zlib,
 * `lenlen` = how many bytes hold the uncompressed length - then that length BIG-endian, then the zlib
 * stream (with its zlib header). Returns the uncompressed bytes; errors name `what` and the offset.
 */
export function mariadbUncompress(
  src: Buffer,
  what: string,
  file: string | undefined,
  offset: number,
): Buffer {
  const fail = (why: string, cause?: unknown) =>
    new SluiceError("BINLOG_DECOMPRESS", `${what}: ${why}`, {
      context: { what, file, offset },
      hint: "the event is damaged, or it was written by a MariaDB compression this version does not know",
      ...(cause === undefined ? {} : { cause }),
    });
  if (src.length < 1) throw fail("empty compressed payload");
  const head = src[0]!;
  if ((head & 0x80) === 0) throw fail(`header byte 0x${head.toString(16)} lacks the compressed-data bit`);
  const alg = (head & 0x70) >> 4;
  if (alg !== 0) throw fail(`unknown compression algorithm ${alg}`);
  const lenlen = head & 0x07;
  if (lenlen < 1 || lenlen > 4 || src.length < 1 + lenlen) throw fail(`bad length-of-length ${lenlen}`);
  const expected = src.readUIntBE(1, lenlen);
  let out: Buffer;
  try {
    out = inflateSync(src.subarray(1 + lenlen), { maxOutputLength: Math.max(expected, 1) });
  } catch (e) {
    throw fail(`zlib: ${messageOf(e)}`, e);
  }
  if (out.length !== expected)
    throw fail(`uncompressed ${out.length} bytes where the header says ${expected}`);
  return out;
}
