import { constants, createHash, publicEncrypt } from "node:crypto";
import { ed25519SignWithPassword } from "./ed25519.ts";

/**
 * Client side of the authentication plugins (pure functions of password and server nonce).
 */

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash("sha1");
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

/** mysql_native_password: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); empty password -> empty. */
export function nativePasswordScramble(password: string, nonce: Buffer): Buffer {
  if (password === "") return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, "utf8"));
  const stage2 = sha1(stage1);
  return xor(stage1, sha1(nonce.subarray(0, 20), stage2));
}

/** caching_sha2_password fast path: SHA256(p) XOR SHA256(SHA256(SHA256(p)) + nonce). */
export function cachingSha2Scramble(password: string, nonce: Buffer): Buffer {
  if (password === "") return Buffer.alloc(0);
  const p1 = sha256(Buffer.from(password, "utf8"));
  const p2 = sha256(p1);
  return xor(p1, sha256(p2, nonce.subarray(0, 20)));
}

/**
 * caching_sha2_password / sha256_password full authentication without TLS: (password + NUL) XOR nonce,
 * RSA-encrypted with the server's public key (OAEP padding, as MySQL 8.0.5+ expects).
 */
export function rsaEncryptPassword(password: string, nonce: Buffer, publicKeyPem: string | Buffer): Buffer {
  const clear = xor(Buffer.from(`${password}\0`, "utf8"), nonce.subarray(0, 20));
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, clear);
}

/** MariaDB client_ed25519: an Ed25519 signature of the 32-byte nonce, keyed by SHA-512 of the password. */
export function ed25519Response(password: string, nonce: Buffer): Buffer {
  return ed25519SignWithPassword(Buffer.from(password, "utf8"), nonce);
}

/** The response for `plugin` to `nonce` (the first round; caching_sha2's later rounds are in the connection). */
export function authResponseFor(plugin: string, password: string, nonce: Buffer): Buffer | undefined {
  switch (plugin) {
    case "mysql_native_password":
      return nativePasswordScramble(password, nonce);
    case "caching_sha2_password":
      return cachingSha2Scramble(password, nonce);
    case "client_ed25519":
      return ed25519Response(password, nonce);
    default:
      return undefined;
  }
}
