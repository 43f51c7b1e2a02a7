import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeChunks, fixture, fixtureNames, transcript } from "./helpers.ts";

// Every split point of the smaller fixtures (damaged ones included: the same error at the same place);
// the larger ones get random splits below (every point of those would take minutes).
const SMALL = fixtureNames().filter((n) => fixture(n).length <= 2048);
const LARGE = fixtureNames().filter((n) => fixture(n).length > 2048);

test("every two-chunk split of each small fixture gives the same output", async () => {
  for (const name of SMALL) {
    const bytes = fixture(name);
    const whole = transcript(await decodeChunks([bytes], name));
    for (let k = 0; k <= bytes.length; k++) {
      const got = transcript(await decodeChunks([bytes.subarray(0, k), bytes.subarray(k)], name));
      if (got !== whole) assert.equal(got, whole, `${name} split at ${k}`);
    }
  }
});

test("one byte at a time gives the same output", async () => {
  for (const name of [
    "mariadb-bin.000001",
    "transaction_compression.000001",
    "binlog_truncated_prev_gtid_event.000001",
  ]) {
    const bytes = fixture(name);
    const whole = transcript(await decodeChunks([bytes], name));
    const bytewise = [...bytes].map((_, i) => bytes.subarray(i, i + 1));
    assert.equal(transcript(await decodeChunks(bytewise, name)), whole, name);
  }
});

test("random multi-chunk splits of every fixture give the same output", async () => {
  const names = [...SMALL, ...LARGE];
  const wholes = new Map<string, string>();
  for (const n of names) wholes.set(n, transcript(await decodeChunks([fixture(n)], n)));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...names),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }),
      async (name, cuts) => {
        const bytes = fixture(name);
        const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(bytes.subarray(prev, p));
          prev = p;
        }
        chunks.push(bytes.subarray(prev));
        assert.equal(transcript(await decodeChunks(chunks, name)), wholes.get(name));
      },
    ),
    { numRuns: 150 },
  );
});
