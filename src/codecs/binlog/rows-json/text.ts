/**
 * String cells copied from the row bytes into a JSON line, escaped as JSON.stringify escapes the
 * decoded string (docs/binlog-values.md): the bytes of text in UTF-8, latin1 (MySQL's cp1252) or
 * ascii become the UTF-8 of the string the row decoder would build, with no string in between.
 *
 * Eight or four bytes at a time: a table of 16-bit values says whether a word holds nothing to
 * escape or transcode (no byte below 0x20, no '"', no '\\', none from 0x80), and such words are
 * stored as they are. Other bytes go one by one.
 */
import { isUtf8 } from "node:buffer";
import { decodeText } from "../rows/charsets.ts";
import type { JsonlSink } from "./sink.ts";

/** How a column's bytes become text. */
export const TextMode = {
  /** UTF-8 (utf8mb3, utf8mb4): copied; not well-formed bytes are left to the reference decoder. */
  UTF8: 0,
  /** MySQL's latin1, which is Windows cp1252. */
  LATIN1: 1,
  /** ascii: each byte is the code point of its value (as Buffer#toString("latin1")). */
  ASCII: 2,
} as const;
export type TextModeCode = (typeof TextMode)[keyof typeof TextMode];

/** Code points of latin1 bytes 0x80-0x9f, from the row decoder's own table. */
const cp1252 = Array.from({ length: 32 }, (_, i) =>
  decodeText(Buffer.from([0x80 + i]), 0, 1, "latin1").charCodeAt(0),
);

const HEX = "0123456789abcdef";

/** JSON escapes of the bytes below 0x20, '"' and '\\' (0 = none). */
const ESCAPE: Uint8Array[] = [];
for (let b = 0; b < 0x80; b++) {
  let e: string | undefined;
  if (b < 0x20) {
    e =
      b === 8
        ? "\\b"
        : b === 9
          ? "\\t"
          : b === 10
            ? "\\n"
            : b === 12
              ? "\\f"
              : b === 13
                ? "\\r"
                : `\\u00${HEX[b >> 4]}${HEX[b & 15]}`;
  } else if (b === 0x22) e = '\\"';
  else if (b === 0x5c) e = "\\\\";
  if (e !== undefined) ESCAPE[b] = Buffer.from(e, "latin1");
}

/** 1 for the 16-bit values whose two bytes are plain printable ASCII other than '"' and '\\'. */
const PLAIN16 = new Uint8Array(65536);
const PLAIN8 = new Uint8Array(256);
for (let a = 0x20; a < 0x80; a++) {
  if (a === 0x22 || a === 0x5c) continue;
  PLAIN8[a] = 1;
  for (let b = 0x20; b < 0x80; b++) if (b !== 0x22 && b !== 0x5c) PLAIN16[(a << 8) | b] = 1;
}

/** A DataView over the whole ArrayBuffer of a Buffer, kept for the buffer last asked about. */
class Views {
  private of: ArrayBufferLike | undefined;
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  get(b: Buffer): DataView<ArrayBufferLike> {
    if (b.buffer !== this.of) {
      this.of = b.buffer;
      this.view = new DataView(b.buffer);
    }
    return this.view;
  }
}
const outViews = new Views();
const srcViews = new Views();

/** The bytes of a Buffer as 32-bit words: a view of its whole ArrayBuffer, and where it starts in it. */
export interface WordSource {
  view: DataView<ArrayBufferLike>;
  base: number;
}

/** `b` as a WordSource (one DataView per ArrayBuffer: a read chunk serves many events). */
export function wordSource(b: Buffer): WordSource {
  return { view: srcViews.get(b), base: b.byteOffset };
}

/** True when out[s, e) holds only plain printable ASCII (nothing JSON escapes), checked 4 bytes at a time. */
export function isPlainAscii(out: Buffer, s: number, e: number): boolean {
  const v = outViews.get(out);
  const base = out.byteOffset;
  let i = base + s;
  const end = base + e;
  for (; i + 4 <= end; i += 4) {
    const w = v.getInt32(i, true);
    if ((PLAIN16[w & 0xffff]! & PLAIN16[w >>> 16]!) === 0) return false;
  }
  for (; i < end; i++) if (PLAIN8[v.getUint8(i)] === 0) return false;
  return true;
}

/**
 * Runs every path of the loops below once, so that their type feedback is complete when they are
 * optimized: an optimized loop (on-stack replacement) that reaches a path never run deoptimizes,
 * and measured, does so again on every later call.
 */
export function warmUpText(sink: JsonlSink): void {
  const text = Buffer.from('plain ASCII, "quoted" \\ and \n\t\u0001 controls, é € 😀 and more plain ASCII');
  const words = wordSource(text);
  // (a function records feedback only after its first few calls: the paths are run more often)
  for (let k = 0; k < 24; k++) {
    isPlainAscii(text, 1, 12);
    isPlainAscii(text, 0, text.length);
    for (const mode of [TextMode.UTF8, TextMode.LATIN1, TextMode.ASCII]) {
      sink.rewind();
      sink.reserve(6 * text.length + 2);
      writeText(sink, sink.pos, text, words, 1, text.length - 1, mode);
      writeText(sink, sink.pos, text, words, 3, 9, mode);
    }
    writeText(sink, sink.pos, text, words, text.length - 3, text.length - 2, TextMode.UTF8);
  }
  sink.rewind();
}

/**
 * Writes src[s, e) as a JSON string at `o` (the caller has made room: 6 bytes per byte, a \u00XX
 * escape, and the quotes) and returns the position after it, or -1 when the bytes are not
 * well-formed UTF-8 (UTF8 mode): the caller then writes the cell the reference way (the decoder
 * replaces such bytes). `words` is `src` as a WordSource.
 */
export function writeText(
  sink: JsonlSink,
  o: number,
  src: Buffer,
  words: WordSource,
  s: number,
  e: number,
  mode: TextModeCode,
): number {
  const dst = sink.buf;
  const dv = sink.dv;
  const sv = words.view;
  const base = words.base;
  let high = false;
  dst[o++] = 0x22;
  let i = s;
  while (i < e) {
    // plain runs 8, then 4 bytes at a time (little-endian both ways: the bytes go as they came)
    let j = base + i;
    const jEnd = base + e;
    while (j + 8 <= jEnd) {
      const w = sv.getInt32(j, true);
      const x = sv.getInt32(j + 4, true);
      if ((PLAIN16[w & 0xffff]! & PLAIN16[w >>> 16]! & PLAIN16[x & 0xffff]! & PLAIN16[x >>> 16]!) === 0)
        break;
      dv.setInt32(o, w, true);
      dv.setInt32(o + 4, x, true);
      o += 8;
      j += 8;
    }
    if (j + 4 <= jEnd) {
      const w = sv.getInt32(j, true);
      if ((PLAIN16[w & 0xffff]! & PLAIN16[w >>> 16]!) !== 0) {
        dv.setInt32(o, w, true);
        o += 4;
        j += 4;
      }
    }
    i = j - base;
    if (i >= e) break;
    const c = src[i++]!;
    if (PLAIN8[c] !== 0) {
      dst[o++] = c;
      continue;
    }
    if (c >= 0x80) {
      if (mode === 0 /* UTF8 */) {
        high = true;
        dst[o++] = c;
      } else {
        const cp = mode === 1 /* LATIN1 */ && c < 0xa0 ? cp1252[c - 0x80]! : c;
        if (cp < 0x800) {
          dst[o++] = 0xc0 | (cp >> 6);
          dst[o++] = 0x80 | (cp & 0x3f);
        } else {
          dst[o++] = 0xe0 | (cp >> 12);
          dst[o++] = 0x80 | ((cp >> 6) & 0x3f);
          dst[o++] = 0x80 | (cp & 0x3f);
        }
      }
      continue;
    }
    const esc = ESCAPE[c];
    if (esc === undefined) {
      dst[o++] = c;
      continue;
    }
    for (let k = 0; k < esc.length; k++) dst[o++] = esc[k]!;
  }
  dst[o++] = 0x22;
  if (high && !isUtf8(src.subarray(s, e))) return -1;
  return o;
}
