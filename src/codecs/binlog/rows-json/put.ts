/** Bytes written into an output buffer at a position; each returns the position after what it wrote. */

/** Decimal digits of a non-negative integer below 2^53. */
function digits(v: number): number {
  if (v < 1e8) {
    if (v < 1e4) return v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : 4;
    return v < 1e5 ? 5 : v < 1e6 ? 6 : v < 1e7 ? 7 : 8;
  }
  let n = 9;
  for (let p = 1e9; v >= p && n < 16; p *= 10) n++;
  return n;
}

/** Writes an integer within ±(2^53-1) as JSON.stringify does; returns the position after it. */
export function putInt(dst: Uint8Array, o: number, v: number): number {
  if (v < 0) {
    dst[o++] = 0x2d;
    v = -v;
  }
  if (v < 10) {
    dst[o++] = 0x30 + v;
    return o;
  }
  const end = o + digits(v);
  let q = end;
  while (v >= 10) {
    const d = v % 10;
    v = (v - d) / 10;
    dst[--q] = 0x30 + d;
  }
  dst[--q] = 0x30 + v;
  return end;
}

export function putAscii(dst: Uint8Array, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) dst[o++] = s.charCodeAt(i);
  return o;
}

export function putBytes(dst: Uint8Array, o: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) dst[o++] = b[i]!;
  return o;
}
