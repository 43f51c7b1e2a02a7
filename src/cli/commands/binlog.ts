import { type Command, Option } from "commander";
import type { BinlogEvent } from "../../codecs/binlog/events.ts";
import { eventToText } from "../../codecs/binlog/output.ts";
import { decoderOptionsFor } from "../../codecs/binlog/render.ts";
import { deferredRowsCodec, writeJsonLines } from "../../codecs/binlog/rows-json/index.ts";
import { isSluiceError, messageOf } from "../../core/errors.ts";
import type { Progress } from "../../core/progress.ts";
import { readBinlogFileBatches, totalSize } from "../../sources/binlog-file.ts";
import { defaultJobs, renderBinlogFilesParallel } from "../../sources/binlog-file-parallel.ts";
import type { SchemaResolver, TableMapAnnotator } from "../../sources/schema/index.ts";
import { action, ExitCode, intOption, positiveIntOption } from "../context.ts";
import { BatchedWriter } from "../drain.ts";
import { registerBinlogStream } from "./binlog-stream.ts";

interface ReadOptions {
  format: "jsonl" | "text";
  follow?: boolean;
  startPosition?: number;
  stopPosition?: number;
  verifyChecksum: boolean;
  jsonErrors?: boolean;
  progress: boolean;
  schemaFrom?: string;
  jobs?: number;
}

/** Files at least this big get a progress bar (on a terminal, when stdout is not one). */
const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

function printError(e: unknown, json: boolean): number {
  if (isSluiceError(e)) {
    process.stderr.write(json ? `${JSON.stringify({ error: e.toJSON() })}\n` : `error: ${e.describe()}\n`);
    return e.code.startsWith("USAGE_") ? ExitCode.usage : ExitCode.failure;
  }
  process.stderr.write(
    json
      ? `${JSON.stringify({ error: { code: "INTERNAL", message: messageOf(e) } })}\n`
      : `error: ${messageOf(e)}\n${e instanceof Error && process.env.SLUICE_DEBUG ? `${e.stack}\n` : ""}`,
  );
  return ExitCode.failure;
}

async function readCommand(files: string[], opts: ReadOptions): Promise<number> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  process.once("SIGTERM", onSigint);
  const writer = new BatchedWriter(process.stdout);
  let progress: Progress | undefined;
  let events = 0;
  let resolver: SchemaResolver | undefined;
  try {
    // --schema-from: names and types (MariaDB JSON columns) from a server's information_schema
    let schema: TableMapAnnotator | undefined;
    if (opts.schemaFrom !== undefined) {
      const m = await import("../../sources/schema/index.ts");
      resolver = await m.SchemaResolver.connect(opts.schemaFrom);
      schema = new m.TableMapAnnotator(resolver);
    }
    // (the files' size is read once, when the bar or the default --jobs needs it)
    let size: number | undefined;
    const filesSize = async () => (size ??= await totalSize(files, opts));
    const total = opts.progress && process.stderr.isTTY && !process.stdout.isTTY ? await filesSize() : 0;
    // the progress bar's library is loaded only when a bar is shown
    if (total >= PROGRESS_MIN_BYTES)
      progress = (await import("../../core/progress.ts")).createProgress("binlog read (bytes)", total);
    // --jobs N: the files decoded in chunks by N threads, written out in order (not while following,
    // nor with a schema, which is looked up as the events come); by default one per core for big files
    const jobs = opts.follow || schema ? 1 : (opts.jobs ?? defaultJobs(await filesSize()));
    if (jobs > 1) {
      const parallel = renderBinlogFilesParallel({
        files,
        jobs,
        format: opts.format,
        verifyChecksum: opts.verifyChecksum,
        signal: controller.signal,
        ...(opts.startPosition !== undefined ? { startPosition: opts.startPosition } : {}),
        ...(opts.stopPosition !== undefined ? { stopPosition: opts.stopPosition } : {}),
        ...(progress ? { onProgress: (n: number) => progress?.update(n) } : {}),
      });
      // (each buffer is rendered into again once the next is asked for: written out completely first)
      for await (const bytes of parallel) {
        await writer.write(bytes);
        if (writer.closed) break;
      }
      if (writer.failure) throw writer.failure;
      return ExitCode.ok;
    }
    const sink = writer.sink;
    // JSON lines are written from the rows' bytes: the decoder leaves rows events undecoded
    const render: (batch: BinlogEvent[]) => void =
      opts.format === "text"
        ? (batch) => {
            for (const ev of batch) writer.text(`${eventToText(ev)}\n`);
          }
        : (batch) => writeJsonLines(batch, sink);
    for await (const batch of readBinlogFileBatches({
      files,
      follow: Boolean(opts.follow),
      verifyChecksum: opts.verifyChecksum,
      signal: controller.signal,
      // each event is printed before the next is read: one read buffer serves all chunks
      reuseBuffer: true,
      // (and a table map is filled in from the schema before its rows are read)
      // (JSON lines are written from the bytes of rows and annotated statements)
      ...(opts.format === "jsonl"
        ? { decoder: decoderOptionsFor("jsonl") }
        : schema
          ? { decoder: { rows: deferredRowsCodec } }
          : {}),
      ...(opts.startPosition !== undefined ? { startPosition: opts.startPosition } : {}),
      ...(opts.stopPosition !== undefined ? { stopPosition: opts.stopPosition } : {}),
      ...(progress ? { onProgress: (n: number) => progress?.update(n) } : {}),
    })) {
      // a read chunk's events at a time: the batch's buffer grows when they take more than it holds
      events += batch.length;
      if (schema !== undefined)
        for (let i = 0; i < batch.length; i++) {
          const filling = schema.observe(batch[i]!);
          if (filling !== undefined)
            await filling.catch((e: unknown) => {
              render(batch.slice(0, i));
              throw e;
            });
        }
      render(batch);
      if (writer.full) await writer.flush();
      if (writer.closed) break;
      writer.soon();
    }
    await writer.flush();
    if (writer.failure) throw writer.failure;
    return ExitCode.ok;
  } catch (e) {
    // Everything decoded before the damage is printed first, then what went wrong and where.
    await writer.flush();
    progress?.stop();
    progress = undefined;
    return printError(e, Boolean(opts.jsonErrors));
  } finally {
    progress?.stop();
    await resolver?.close();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
    if (process.env.SLUICE_DEBUG) process.stderr.write(`${events} events\n`);
  }
}

/**
 * Creates the `binlog` command group with its `read` subcommand and returns the group, so that other
 * binlog subcommands (e.g. `stream`, from the replication source) can be added to the same group.
 */
export function binlogCommand(program: Command): Command {
  const binlog = program
    .command("binlog")
    .description("decode MySQL/MariaDB binary logs: from files on disk, or from a server as a replica");

  binlog
    .command("read")
    .description(
      "decode binlog files (in order) and print one line per event: JSON (the output contract, docs/binlog-output.md) or readable text",
    )
    .argument("<file...>", "binlog files, read in the order given")
    .addOption(new Option("--format <format>", "output format").choices(["jsonl", "text"]).default("jsonl"))
    .option("--follow", "keep reading as the last file grows, and follow ROTATE to the next file")
    .option(
      "--start-position <n>",
      "start at this event offset of the first file",
      intOption("--start-position"),
    )
    .option(
      "--stop-position <n>",
      "stop before the first event at or after this offset of the last file",
      intOption("--stop-position"),
    )
    .option("--no-verify-checksum", "do not verify CRC32 event checksums")
    .option("--no-progress", "no progress bar on the terminal")
    .option("--json-errors", "print errors as one JSON object on stderr")
    .option(
      "--jobs <n>",
      "threads decoding the files in chunks, output identical and in order (default: one per core for 256 MiB of files and more, else 1; always 1 with --follow or --schema-from)",
      positiveIntOption("--jobs"),
    )
    .option(
      "--schema-from <url>",
      "mysql://user@host:port of the server that wrote the files (or a copy of its schema): column names and types from its information_schema; password also from SLUICE_MYSQL_PASSWORD",
    )
    .addHelpText(
      "after",
      `
A binlog names columns only with binlog_row_metadata=FULL (else @1, @2, ...), and never says which
LONGTEXT columns are MariaDB JSON: without --schema-from those print as text, with it as the JSON
document. The schema is today's, tracked across the DDL in the files: see docs/binlog-values.md.

Exit codes: 0 every event was read; 1 the file is damaged, truncated, encrypted or unreadable
(everything before the damage is printed first, then the error with file and offset).`,
    )
    .action(
      action(async (files: string[], opts: ReadOptions, cmd: Command) =>
        readCommand(files, {
          ...opts,
          // --log-format json asks for machine-readable errors too
          jsonErrors:
            Boolean(opts.jsonErrors) || cmd.optsWithGlobals<{ logFormat?: string }>().logFormat === "json",
        }),
      ),
    );

  return binlog;
}

export function register(program: Command): void {
  registerBinlogStream(binlogCommand(program));
}
