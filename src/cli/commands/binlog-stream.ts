import { type Command, Option } from "commander";
import type { BinlogEvent } from "../../codecs/binlog/events.ts";
import { eventToText } from "../../codecs/binlog/output.ts";
import { deferredRowsCodec, writeJsonLine } from "../../codecs/binlog/rows-json/index.ts";
import { redactUrl } from "../../core/url.ts";
import type { SchemaResolver, TableMapAnnotator } from "../../sources/schema/index.ts";
import { action, cliContext, ExitCode, intOption } from "../context.ts";
import { BatchedWriter } from "../drain.ts";

interface StreamOptions {
  start: string;
  stop?: string;
  untilHead?: boolean;
  serverId?: number;
  format: "jsonl" | "text";
  heartbeat: number;
  heartbeats?: boolean;
  verifyChecksum: boolean;
  ssl?: boolean;
  reconnect: boolean;
  schema: boolean;
  schemaFrom?: string;
}

function secondsOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new Error(`${name} must be a number of seconds >= 0, got '${value}'`);
    return n;
  };
}

/** `sluice binlog stream URL`: a replica's view of the server's binlog, printed like `binlog read`. */
export function registerBinlogStream(binlogGroup: Command): void {
  binlogGroup
    .command("stream")
    .description(
      "connect to a MySQL/MariaDB server as a replica and print its binlog events as they happen (same output as `binlog read`)",
    )
    .argument(
      "<url>",
      "mysql://user[:password]@host[:port][?ssl=true&sslCa=FILE]; password also from SLUICE_MYSQL_PASSWORD",
    )
    .option(
      "--start <position>",
      "now (the server's head), earliest, FILE:OFFSET, a MariaDB GTID position (0-1-7140[,1-2-33]) or a MySQL GTID set",
      "now",
    )
    .option(
      "--stop <position>",
      "stop before FILE:OFFSET, after GTID, or at `head` (the head when the stream starts)",
    )
    .option("--until-head", "same as --stop head: a bounded run to where the server's binlog ends now")
    .option(
      "--server-id <n>",
      "server id to register with (unique among the server's replicas)",
      intOption("--server-id"),
    )
    .addOption(new Option("--format <format>", "output format").choices(["jsonl", "text"]).default("jsonl"))
    .option(
      "--heartbeat <seconds>",
      "heartbeat period asked of the server (0 = none)",
      secondsOption("--heartbeat"),
      15,
    )
    .option("--heartbeats", "print heartbeat events too")
    .option("--ssl", "use TLS (verified against the system CAs; see ?sslCa= and ?sslVerify=false in the URL)")
    .option("--no-verify-checksum", "do not verify CRC32 event checksums")
    .option("--no-reconnect", "fail on a lost connection instead of reconnecting")
    .option(
      "--schema-from <url>",
      "read column names and types (MariaDB JSON columns) from this server's information_schema instead of <url>'s; password also from SLUICE_MYSQL_PASSWORD",
    )
    .option(
      "--no-schema",
      "do not ask information_schema: columns named @1, @2, ... without binlog_row_metadata=FULL, MariaDB JSON columns as text",
    )
    .addHelpText(
      "after",
      `
Examples:
  sluice binlog stream mysql://repl@127.0.0.1:3306 --start earliest --until-head
  SLUICE_MYSQL_PASSWORD=... sluice binlog stream mysql://repl@db:3306 --start 0-1-7140 --format text
  sluice binlog stream mysql://repl@db:3306 --start mariadb-bin.000044:4 --stop mariadb-bin.000045:4

Column names come from the table maps (binlog_row_metadata=FULL) or from the server's
information_schema (one query per table and per DDL seen in the stream, needs SELECT on the tables),
which also says which LONGTEXT columns are MariaDB JSON: those print as the JSON document
(docs/binlog-values.md). With MINIMAL metadata, events older than the table's last ALTER fail with
SCHEMA_MISMATCH rather than being misnamed; --no-schema prints them with @1, @2, ... instead.

A lost connection is retried with backoff and the stream resumes where it was: no event is printed
twice or skipped. Exit codes: 0 the stop position was reached (or interrupted); 1 the server or the
binlog said no (message names the server and position); 2 bad usage.`,
    )
    .action(
      action(async (url: string, opts: StreamOptions, cmd: Command): Promise<number> => {
        const { logger } = await cliContext(cmd);
        const controller = new AbortController();
        const onSignal = () => controller.abort();
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        // The reader went away (`| head`): stop streaming, quietly.
        const onOutputError = () => controller.abort();
        process.stdout.on("error", onOutputError);
        const stop = opts.untilHead ? "head" : opts.stop;
        // the replication client (network, TLS, metrics) is loaded only by this command, not by `binlog read`
        const { openBinlogStream } = await import("../../sources/replication/stream.ts");
        const stream = openBinlogStream(url, {
          start: opts.start,
          ...(stop === undefined ? {} : { stop }),
          ...(opts.serverId === undefined ? {} : { serverId: opts.serverId }),
          ...(opts.ssl ? { ssl: true } : {}),
          heartbeatSeconds: opts.heartbeat,
          verifyChecksum: opts.verifyChecksum,
          reconnect: opts.reconnect ? {} : false,
          signal: controller.signal,
          // JSON lines are written from the rows' bytes: rows events come undecoded
          ...(opts.format === "jsonl" ? { rows: deferredRowsCodec } : {}),
        });
        stream.on("connected", (c) =>
          logger.debug({ server: redactUrl(url), connectionId: c.connectionId, from: c.resume }, "streaming"),
        );
        stream.on("reconnecting", (r) =>
          logger.warn(
            {
              attempt: r.attempt,
              delayMs: r.delayMs,
              error: r.error.message,
              resumeFrom: stream.status.position,
            },
            "replication connection lost; reconnecting",
          ),
        );
        // Names and types from information_schema, filled into each table map before its rows are read
        // (the stream decodes an event only when the loop below asks for it).
        let resolver: SchemaResolver | undefined;
        let schema: TableMapAnnotator | undefined;
        if (opts.schema) {
          const m = await import("../../sources/schema/index.ts");
          resolver = await m.SchemaResolver.connect(opts.schemaFrom ?? url, opts.ssl ? { ssl: true } : {});
          schema = new m.TableMapAnnotator(resolver, {
            hint: "or --no-schema: no information_schema, columns as @1, @2, ... without FULL metadata, MariaDB JSON as text",
          });
        }
        // Lines are batched, and written as soon as the stream waits for the server.
        const writer = new BatchedWriter(process.stdout);
        const render: (ev: BinlogEvent) => void =
          opts.format === "text"
            ? (ev) => writer.text(`${eventToText(ev)}\n`)
            : (ev) => writeJsonLine(ev, writer.sink);
        try {
          for await (const ev of stream) {
            if ((ev.type === "heartbeat" || ev.type === "heartbeat_v2") && !opts.heartbeats) continue;
            if (controller.signal.aborted || writer.closed) break;
            const filling = schema?.observe(ev);
            if (filling !== undefined) await filling;
            render(ev);
            if (writer.full) await writer.flush();
            else writer.soon();
          }
        } finally {
          await writer.flush();
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          process.stdout.off("error", onOutputError);
          await stream.close();
          await resolver?.close();
        }
        return ExitCode.ok;
      }),
    );
}
