/**
 * A binlog read in chunks (binlog-file-parallel.ts: the file cut at event boundaries, each chunk
 * decoded from the decoder state at its start, in worker threads or in this one) prints exactly what
 * the sequential read prints: the same bytes, and on damage the same error at the same file and
 * offset after the same lines. Every fixture, cut every few bytes and at fast-check's chunk sizes,
 * damaged copies of them, several files in one read, and start/stop positions.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import {
  type BinlogOutputFormat,
  decoderOptionsFor,
  renderEvents,
} from "../../../src/codecs/binlog/render.ts";
import { JsonlSink } from "../../../src/codecs/binlog/rows-json/sink.ts";
import { SluiceError } from "../../../src/core/errors.ts";
import { readBinlogFileBatches, totalSize } from "../../../src/sources/binlog-file.ts";
import {
  defaultJobs,
  PARALLEL_MIN_BYTES,
  type ParallelReadOptions,
  type ParallelReadStats,
  renderBinlogFilesParallel,
} from "../../../src/sources/binlog-file-parallel.ts";
import { DAMAGED, FIXTURES, fixture, fixtureNames } from "./helpers.ts";

interface Printed {
  out: Buffer;
  error: string | undefined;
  stats?: ParallelReadStats;
}

function errorOf(e: unknown): string {
  return e instanceof SluiceError
    ? `${e.code} ${JSON.stringify(e.toJSON().context ?? {})} ${e.describe()}`
    : `not a SluiceError: ${String(e)}`;
}

type ReadOptions = Omit<ParallelReadOptions, "jobs" | "format" | "files" | "stats">;

/** What `sluice binlog read --jobs 1` prints. */
async function sequential(
  files: string[],
  format: BinlogOutputFormat,
  opts: ReadOptions = {},
): Promise<Printed> {
  const sink = new JsonlSink();
  let error: string | undefined;
  try {
    for await (const batch of readBinlogFileBatches({
      files,
      reuseBuffer: true,
      decoder: decoderOptionsFor(format),
      ...opts,
    }))
      renderEvents(format, batch, sink);
  } catch (e) {
    error = errorOf(e);
  }
  return { out: Buffer.from(sink.take()), error };
}

/** What the chunked read prints (each buffer copied: it is reused once the next is asked for). */
/** One read: its files, format, threads and chunk size. */
interface Run {
  files: string[];
  format: BinlogOutputFormat;
  jobs: number;
  chunkBytes: number;
  opts?: ReadOptions;
}

async function chunked({ files, format, jobs, chunkBytes, opts }: Run): Promise<Printed> {
  const parts: Buffer[] = [];
  let error: string | undefined;
  const stats: ParallelReadStats = { workers: 0, here: 0 };
  try {
    for await (const b of renderBinlogFilesParallel({
      files,
      format,
      jobs,
      chunkBytes,
      stats,
      ...(opts ?? {}),
    }))
      parts.push(Buffer.from(b));
  } catch (e) {
    error = errorOf(e);
  }
  return { out: Buffer.concat(parts), error, stats };
}

async function assertSame(run: Run): Promise<Printed> {
  const { chunkBytes } = run;
  const want = await sequential(run.files, run.format, run.opts);
  const got = await chunked(run);
  assert.equal(got.error, want.error, `error, ${chunkBytes}-byte chunks`);
  if (!got.out.equals(want.out)) {
    let i = 0;
    while (i < got.out.length && got.out[i] === want.out[i]) i++;
    assert.fail(
      `output differs at byte ${i} of ${want.out.length} (${chunkBytes}-byte chunks): got ${JSON.stringify(got.out.subarray(i, i + 80).toString())}, want ${JSON.stringify(want.out.subarray(i, i + 80).toString())}`,
    );
  }
  return { ...want, ...(got.stats ? { stats: got.stats } : {}) };
}

const scratch = mkdtempSync(join(tmpdir(), "sluice-parallel-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("chunked read = sequential read, every fixture (in this thread)", () => {
  for (const name of fixtureNames()) {
    test(name, async () => {
      for (const chunkBytes of [1, 700, 4096, 1 << 20])
        for (const format of ["jsonl", "text"] as const) {
          const r = await assertSame({ files: [FIXTURES + name], format, jobs: 1, chunkBytes });
          if (DAMAGED[name] === undefined) {
            assert.equal(r.error, undefined, `${name} reads to its end`);
            // every chunk was decoded from the state handed over at its start, none sequentially
            assert.equal(
              r.stats?.sequentialFrom,
              undefined,
              `${name}: read sequentially from ${JSON.stringify(r.stats?.sequentialFrom)}`,
            );
            if (fixture(name).length > 2 * chunkBytes)
              assert.ok(r.stats!.here > 1, `${name} in several chunks`);
          }
        }
    });
  }
});

describe("chunked read = sequential read, in worker threads", () => {
  test("every fixture that reads to its end, as one read of many files (jobs 3)", async () => {
    const files = fixtureNames()
      .filter((n) => DAMAGED[n] === undefined)
      .map((n) => FIXTURES + n);
    const r = await assertSame({
      files,
      format: "jsonl",
      jobs: 3,
      chunkBytes: 2048,
      opts: { onlyWorkers: true },
    });
    assert.equal(r.error, undefined);
    assert.ok(r.out.length > 100_000);
    assert.equal(r.stats?.sequentialFrom, undefined);
    assert.ok(
      r.stats!.workers > 10 && r.stats!.here === 0,
      `chunks rendered by workers: ${r.stats!.workers}`,
    );
  });

  test("damaged fixtures: the same lines, then the same error at the same offset (jobs 2)", async () => {
    for (const name of Object.keys(DAMAGED)) {
      const want = await assertSame({
        files: [FIXTURES + name],
        format: "jsonl",
        jobs: 2,
        chunkBytes: 512,
        opts: { onlyWorkers: true },
      });
      assert.match(want.error ?? "", new RegExp(`^${DAMAGED[name]!.code} `));
    }
  });
});

describe("chunked read = sequential read, fast-check", () => {
  const names = fixtureNames();
  const chunkSize = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 40_000 }));

  test("any chunk size, any start and stop position", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...names),
        chunkSize,
        fc.option(fc.integer({ min: 0, max: 4000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined }),
        async (name, chunkBytes, startPosition, stopPosition) => {
          const opts = {
            ...(startPosition !== undefined ? { startPosition } : {}),
            ...(stopPosition !== undefined ? { stopPosition } : {}),
          };
          await assertSame({ files: [FIXTURES + name], format: "jsonl", jobs: 1, chunkBytes, opts });
        },
      ),
      { numRuns: 150 },
    );
  });

  test("damaged copies: cut short, bytes overwritten", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...names),
        chunkSize,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 3,
        }),
        fc.boolean(),
        async (name, chunkBytes, cut, flips, verifyChecksum) => {
          const bytes = Buffer.from(fixture(name));
          const damaged = bytes.subarray(0, Math.floor(bytes.length * (0.2 + 0.8 * cut)));
          for (const [at, value] of flips) damaged[Math.floor(at * (damaged.length - 1))] = value;
          const path = join(scratch, `${n++}-${name}`);
          writeFileSync(path, damaged);
          await assertSame({ files: [path], format: "jsonl", jobs: 1, chunkBytes, opts: { verifyChecksum } });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("sluice binlog read --jobs 2 prints what --jobs 1 prints (the CLI, from source)", () => {
  const BIN = new URL("../../../bin/sluice.js", import.meta.url).pathname;
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, "binlog", "read", "--no-progress", ...args], {
      env: { ...process.env, SLUICE_FROM_SOURCE: "1" },
      maxBuffer: 1 << 28,
    });

  test("several fixtures in one read, and a damaged one: stdout, stderr and exit code", () => {
    const whole = fixtureNames()
      .filter((n) => DAMAGED[n] === undefined)
      .slice(0, 12)
      .map((n) => FIXTURES + n);
    for (const files of [whole, [`${FIXTURES}corrupt-relay-bin.000624`]]) {
      const one = cli(["--jobs", "1", ...files]);
      const two = cli(["--jobs", "2", ...files]);
      assert.ok(one.stdout.length > 1000, "lines printed");
      assert.ok(two.stdout.equals(one.stdout), "stdout");
      assert.equal(two.stderr.toString(), one.stderr.toString());
      assert.equal(two.status, one.status);
    }
  });
});

describe("the default --jobs goes by the bytes a read goes through", () => {
  test("file sizes, from the start position in the first file to the stop position in the last", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-span-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const a = join(dir, "a");
    const b = join(dir, "b");
    writeFileSync(a, Buffer.alloc(1000));
    writeFileSync(b, Buffer.alloc(500));
    assert.equal(await totalSize([a, b]), 1500);
    assert.equal(await totalSize([a, b], { startPosition: 100, stopPosition: 200 }), 900 + 200);
    assert.equal(await totalSize([a], { startPosition: 100, stopPosition: 250 }), 150);
    // past the end, and a missing file
    assert.equal(await totalSize([a, join(dir, "none")], { stopPosition: 5000 }), 1000);
    assert.equal(await totalSize([b], { startPosition: 900 }), 0);
    // a read of a few events of a big file runs in one thread
    const big = PARALLEL_MIN_BYTES;
    assert.equal(defaultJobs(big - 1), 1);
    assert.ok(defaultJobs(big) >= Math.min(2, availableParallelism()));
  });
});
