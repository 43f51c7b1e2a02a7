import { createHash } from "node:crypto";

/**
 * Ed25519 signing for MariaDB's client_ed25519 plugin. The plugin signs with the SHA-512 of the whole
 * password where standard Ed25519 hashes a 32-byte seed, so node:crypto (which only takes 32-byte
 * seeds) cannot sign for it; the arithmetic is done here with bigints (RFC 8032, section 5.1).
 * Signing runs once per connection, so clarity beats speed; it does not need to be constant-time
 * either, as the only secret (the password) is also what the client sends the server the hash of.
 */
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function powMod(base: bigint, exp: bigint, m = P): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

const inv = (a: bigint): bigint => powMod(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const D2 = mod(2n * D);

/** A point in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z. */
type Point = readonly [bigint, bigint, bigint, bigint];

const BY = mod(4n * inv(5n));
const BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202n;
const BASE: Point = [BX, BY, 1n, mod(BX * BY)];
const IDENTITY: Point = [0n, 1n, 1n, 0n];

function add(p: Point, q: Point): Point {
  const [x1, y1, z1, t1] = p;
  const [x2, y2, z2, t2] = q;
  const a = mod((y1 - x1) * (y2 - x2));
  const b = mod((y1 + x1) * (y2 + x2));
  const c = mod(t1 * D2 * t2);
  const d = mod(z1 * 2n * z2);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function multiply(k: bigint, p: Point): Point {
  let result = IDENTITY;
  let addend = p;
  let n = k;
  while (n > 0n) {
    if (n & 1n) result = add(result, addend);
    addend = add(addend, addend);
    n >>= 1n;
  }
  return result;
}

function encodePoint(p: Point): Buffer {
  const zi = inv(p[2]);
  const x = mod(p[0] * zi);
  const y = mod(p[1] * zi);
  const out = Buffer.alloc(32);
  let v = y;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (x & 1n) out[31]! |= 0x80;
  return out;
}

function leToBigint(b: Buffer): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function bigintToLe32(v: bigint): Buffer {
  const out = Buffer.alloc(32);
  let n = v;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return h.digest();
}

function secretScalar(password: Buffer): { a: bigint; prefix: Buffer } {
  const az = Buffer.from(sha512(password));
  az[0]! &= 248;
  az[31]! &= 63;
  az[31]! |= 64;
  return { a: leToBigint(az.subarray(0, 32)), prefix: az.subarray(32, 64) };
}

/** The public key MariaDB stores for an ed25519 account (`mysql.global_priv`, base64 without padding). */
export function ed25519PublicKeyFromPassword(password: Buffer): Buffer {
  return encodePoint(multiply(secretScalar(password).a, BASE));
}

/** A 64-byte Ed25519 signature (R || S) of `message`, with the key derived from `password`. */
export function ed25519SignWithPassword(password: Buffer, message: Buffer): Buffer {
  const { a, prefix } = secretScalar(password);
  const publicKey = encodePoint(multiply(a, BASE));
  const r = mod(leToBigint(sha512(prefix, message)), L);
  const R = encodePoint(multiply(r, BASE));
  const h = mod(leToBigint(sha512(R, publicKey, message)), L);
  const s = mod(r + h * a, L);
  return Buffer.concat([R, bigintToLe32(s)]);
}
