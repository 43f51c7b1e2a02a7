import { createInterface } from "node:readline";
import { type Command, CommanderError } from "commander";
import { SluiceError } from "../../core/errors.ts";
import { formatCount } from "../../core/units.ts";
import { openStreamLog } from "../../stream/index.ts";
import type { StartPosition, StoredRecord, StreamInfo, StreamLog, StreamRecord } from "../../stream/types.ts";
import { action, cliContext, ExitCode, intOption } from "../context.ts";

const URL_HELP =
  "stream-log URL: file:./sluice.db (embedded SQLite), amqp://user:pass@host:5672/STREAM (RabbitMQ streams), nats://host:4222/STREAM (NATS JetStream) or redis://host:6379/STREAM (Redis Streams)";

function streamName(log: StreamLog, given: string | undefined): string {
  const name = given ?? log.defaultStream;
  if (!name)
    throw new SluiceError("USAGE_STREAM_MISSING", "no stream named", {
      context: { url: log.url },
      hint: "pass --stream NAME (or put it in the URL: amqp://.../NAME, redis://.../NAME, file:./x.db?stream=NAME)",
    });
  return name;
}

function parseFrom(value: string): StartPosition {
  if (value === "earliest" || value === "latest") return value;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CommanderError(
      ExitCode.usage,
      "sluice.invalidArgument",
      `--from must be earliest, latest or an offset, got '${value}'`,
    );
  return n;
}

/** Values print as UTF-8 when they are valid text, else as base64 (JSON says which). */
function valueText(value: Uint8Array): { value: string; encoding: "utf8" | "base64" } {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const text = buf.toString("utf8");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we detect
  if (Buffer.from(text, "utf8").equals(buf) && !/[\u0000-\u0008\u000e-\u001f]/.test(text))
    return { value: text, encoding: "utf8" };
  return { value: buf.toString("base64"), encoding: "base64" };
}

function printRecord(r: StoredRecord, json: boolean): void {
  const v = valueText(r.value);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        offset: r.offset,
        partition: r.partition,
        key: r.key,
        timestamp: r.timestamp,
        ...(r.headers ? { headers: r.headers } : {}),
        value: v.value,
        encoding: v.encoding,
      })}\n`,
    );
  } else {
    const when = new Date(r.timestamp).toISOString();
    process.stdout.write(
      `${r.offset}\t${when}\t${r.key}\t${v.encoding === "base64" ? `base64:${v.value}` : v.value}\n`,
    );
  }
}

function printInfo(info: StreamInfo): void {
  if (!info.exists) {
    process.stdout.write(`stream ${info.stream}: does not exist\n`);
    return;
  }
  const p = info.partitions[0];
  const count = p?.head === undefined ? 0 : p.head - (p.first ?? 0) + 1;
  process.stdout.write(
    `stream ${info.stream}: first offset ${p?.first ?? "-"}, head offset ${p?.head ?? "-"} (${formatCount(count)} records retained)\n`,
  );
  const r = info.retention;
  if (r.maxAgeMs !== undefined || r.maxBytes !== undefined)
    process.stdout.write(
      `  retention:${r.maxAgeMs !== undefined ? ` max age ${r.maxAgeMs} ms` : ""}${r.maxBytes !== undefined ? ` max ${r.maxBytes} bytes` : ""}\n`,
    );
  if (info.groups.length === 0) process.stdout.write("  no consumer group has committed\n");
  for (const g of info.groups)
    process.stdout.write(`  group ${g.group}: committed ${g.committed ?? "-"}, lag ${formatCount(g.lag)}\n`);
}

export function register(program: Command): void {
  const stream = program
    .command("stream")
    .description(
      "inspect and use the stream log between Sluice's stages (embedded SQLite, RabbitMQ streams or NATS JetStream)",
    );

  stream
    .command("info")
    .description("head and first offsets, consumer groups with their committed offsets and lag")
    .argument("<url>", URL_HELP)
    .option("--stream <name>", "the stream (default: the one in the URL; SQLite: all streams)")
    .option("--json", "print JSON")
    .action(
      action(async (url: string, opts: { stream?: string; json?: boolean }, cmd: Command) => {
        await cliContext(cmd);
        const log = await openStreamLog(url);
        try {
          const name = opts.stream ?? log.defaultStream;
          const names = name ? [name] : await log.streams();
          if (names.length === 0 && !opts.json) process.stdout.write("no streams\n");
          const infos: StreamInfo[] = [];
          for (const n of names) infos.push(await log.info(n));
          if (opts.json)
            process.stdout.write(
              `${JSON.stringify({ url: log.url, adapter: log.adapter, streams: infos }, null, 2)}\n`,
            );
          else for (const i of infos) printInfo(i);
          return name && !infos[0]?.exists ? ExitCode.failure : ExitCode.ok;
        } finally {
          await log.close();
        }
      }),
    );

  stream
    .command("tail")
    .description("print records: from an offset or, with --group, from the group's committed offset")
    .argument("<url>", URL_HELP)
    .option("--stream <name>", "the stream (default: the one in the URL)")
    .option("--from <pos>", "earliest, latest or an offset (without --group, default earliest)", parseFrom)
    .option("--group <name>", "read as this consumer group and commit what was printed")
    .option("-n, --max <n>", "stop after this many records", intOption("--max"))
    .option("-f, --follow", "keep waiting for new records, even before the stream exists (Ctrl-C stops)")
    .option("--json", "one JSON object per record")
    .addHelpText(
      "after",
      `
Examples:
  sluice stream tail file:./sluice.db --stream changes --from 100 -n 10
  sluice stream tail amqp://guest:guest@127.0.0.1:5672/changes --group audit --follow --json`,
    )
    .action(
      action(
        async (
          url: string,
          opts: {
            stream?: string;
            from?: StartPosition;
            group?: string;
            max?: number;
            follow?: boolean;
            json?: boolean;
          },
          cmd: Command,
        ) => {
          await cliContext(cmd);
          const log = await openStreamLog(url);
          let stop = false;
          const onSigint = () => {
            stop = true;
          };
          process.once("SIGINT", onSigint);
          try {
            const name = streamName(log, opts.stream);
            // Following a stream that does not exist yet waits for its producer (and creates it).
            if (!opts.follow && !(await log.info(name)).exists)
              throw new SluiceError("STREAM_NOT_FOUND", `no stream '${name}'`, {
                context: { url: log.url },
                hint: "`sluice stream info URL` lists the streams of a SQLite log",
              });
            const consumer = await log.consumer(name, opts.group ?? `tail-${process.pid}`, {
              start: opts.from ?? "earliest",
            });
            let printed = 0;
            const max = opts.max ?? Number.POSITIVE_INFINITY;
            while (!stop && printed < max) {
              const recs = await consumer.read({
                max: Math.min(1000, max - printed),
                waitMs: opts.follow ? 500 : 300,
              });
              if (recs.length === 0) {
                if (opts.follow) continue;
                break;
              }
              for (const r of recs) printRecord(r, Boolean(opts.json));
              printed += recs.length;
              if (opts.group !== undefined) await consumer.commit(recs.at(-1)!.offset);
            }
            return ExitCode.ok;
          } finally {
            process.off("SIGINT", onSigint);
            await log.close();
          }
        },
      ),
    );

  stream
    .command("append")
    .description("append one record per line of standard input (or --value), blocking until durable")
    .argument("<url>", URL_HELP)
    .option("--stream <name>", "the stream (default: the one in the URL)")
    .option("--key <key>", "the key of every record", "")
    .option("--value <text>", "append this one value instead of reading standard input")
    .option("--json", "print the result as JSON")
    .action(
      action(
        async (
          url: string,
          opts: { stream?: string; key: string; value?: string; json?: boolean },
          cmd: Command,
        ) => {
          await cliContext(cmd);
          const log = await openStreamLog(url);
          try {
            const producer = await log.producer(streamName(log, opts.stream), { policy: "block" });
            const make = (text: string): StreamRecord => ({
              key: opts.key,
              value: Buffer.from(text, "utf8"),
              timestamp: Date.now(),
            });
            let batch: StreamRecord[] = [];
            if (opts.value !== undefined) batch.push(make(opts.value));
            else
              for await (const line of createInterface({
                input: process.stdin,
                crlfDelay: Number.POSITIVE_INFINITY,
              })) {
                batch.push(make(line));
                if (batch.length >= 1000) {
                  await producer.append(batch);
                  batch = [];
                }
              }
            await producer.append(batch);
            const { appended } = producer.stats();
            if (opts.json) process.stdout.write(`${JSON.stringify({ appended })}\n`);
            else process.stderr.write(`appended ${formatCount(appended)} records\n`);
            return ExitCode.ok;
          } finally {
            await log.close();
          }
        },
      ),
    );

  stream
    .command("delete")
    .description("delete a stream and its consumer groups' offsets")
    .argument("<url>", URL_HELP)
    .option("--stream <name>", "the stream (default: the one in the URL)")
    .action(
      action(async (url: string, opts: { stream?: string }, cmd: Command) => {
        await cliContext(cmd);
        const log = await openStreamLog(url);
        try {
          await log.deleteStream(streamName(log, opts.stream));
          return ExitCode.ok;
        } finally {
          await log.close();
        }
      }),
    );
}
