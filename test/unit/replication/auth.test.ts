import assert from "node:assert/strict";
import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  verify,
} from "node:crypto";
import { test } from "node:test";
import {
  cachingSha2Scramble,
  nativePasswordScramble,
  rsaEncryptPassword,
} from "../../../src/sources/replication/auth.ts";
import {
  ed25519PublicKeyFromPassword,
  ed25519SignWithPassword,
} from "../../../src/sources/replication/ed25519.ts";

const nonce = Buffer.from("0102030405060708090a0b0c0d0e0f1011121314", "hex");

test("mysql_native_password scramble", () => {
  // Independent check of the definition: SHA1(pw) XOR SHA1(nonce . SHA1(SHA1(pw))); the server stores
  // '*' + hex(SHA1(SHA1(pw))), so recovering SHA1(pw) from the response and hashing it must give that.
  const resp = nativePasswordScramble("secret", nonce);
  assert.equal(resp.length, 20);
  const stored = createHash("sha1").update(createHash("sha1").update("secret").digest()).digest();
  const mask = createHash("sha1").update(nonce).update(stored).digest();
  const stage1 = Buffer.from(resp.map((b, i) => b ^ mask[i]!));
  assert.deepEqual(createHash("sha1").update(stage1).digest(), stored);
  assert.equal(nativePasswordScramble("", nonce).length, 0);
});

test("caching_sha2_password scramble is what the server checks", () => {
  const resp = cachingSha2Scramble("secret", nonce);
  assert.equal(resp.length, 32);
  // Server side: SHA256(SHA256(pw)) is cached; XOR with SHA256(cached . nonce) must give SHA256(pw),
  // whose SHA256 is the cached value.
  const p1 = createHash("sha256").update("secret").digest();
  const cached = createHash("sha256").update(p1).digest();
  const mask = createHash("sha256").update(cached).update(nonce).digest();
  const got = Buffer.from(resp.map((b, i) => b ^ mask[i]!));
  assert.deepEqual(got, p1);
});

test("RSA full authentication: the server's private key recovers the password", () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = publicKey.export({ type: "spki", format: "pem" });
  const enc = rsaEncryptPassword("pässword", nonce, pem);
  const clear = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, enc);
  const unmasked = Buffer.from(clear.map((b, i) => b ^ nonce[i % 20]!));
  assert.equal(unmasked.toString("utf8"), "pässword\0");
});

test("client_ed25519 signature verifies with node's own Ed25519", () => {
  for (const pw of ["", "secret", "a much longer password than thirty-two bytes, in ünïcode"]) {
    const password = Buffer.from(pw, "utf8");
    const message = Buffer.alloc(32, 7);
    const sig = ed25519SignWithPassword(password, message);
    assert.equal(sig.length, 64);
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: ed25519PublicKeyFromPassword(password).toString("base64url") },
      format: "jwk",
    });
    assert.ok(verify(null, message, key, sig), pw);
    const tampered = Buffer.from(message);
    tampered[0] = 1;
    assert.ok(!verify(null, tampered, key, sig));
  }
});

test("ed25519 key derivation agrees with RFC 8032 when the password is a 32-byte seed", () => {
  // RFC 8032 test 1: secret key 9d61b19d..., public key d75a9801...
  const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
  assert.equal(
    ed25519PublicKeyFromPassword(seed).toString("hex"),
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
  assert.equal(
    ed25519SignWithPassword(seed, Buffer.alloc(0)).toString("hex"),
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
});
