import { type Command, CommanderError, Option } from "commander";
import { CaptureDecoder, type CaptureDecoderOptions, type CaptureStats } from "../../capture/decoder.ts";
import type { SessionEvent } from "../../capture/events.ts";
import { LiveCapture } from "../../capture/live.ts";
import { readCaptureFile } from "../../capture/pcap-file.ts";
import type { EventPublisher } from "../../capture/publish.ts";
import { formatParamValue } from "../../codecs/mysql/binary-values.ts";
import { SluiceError } from "../../core/errors.ts";
import { formatBytes, formatCount } from "../../core/units.ts";
import { action, cliContext, ExitCode, intOption } from "../context.ts";
import { BatchedWriter } from "../drain.ts";

// The digest (hdr-histogram-js), the processlist (mysql2), the stream log (better-sqlite3, amqplib)
// and the Prometheus gauge (prom-client) load only when asked for: a live capture runs on the
// database host, and each of them costs the process 5-15 MiB of memory for nothing otherwise.

/** Events are written in batches of at most this many bytes, and at the latest when the input waits. */
const OUTPUT_BATCH = 64 * 1024;

interface CaptureOptions {
  pcap?: string;
  interface?: string;
  filter: string;
  port: number[];
  print?: boolean;
  json?: boolean;
  to?: string;
  stream?: string;
  statsInterval: number;
  duration?: number;
  idleTimeout: number;
  bufferKib: number;
  immediate?: boolean;
  processlist?: string;
}

function portList(value: string, previous: number[] | undefined): number[] {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new CommanderError(
      ExitCode.usage,
      "sluice.invalidArgument",
      `--port must be a port number, got '${value}'`,
    );
  return [...(previous ?? []), n];
}

/** The server ports: those given, else the one in a `port N` filter, else 3306. */
function serverPorts(o: { port?: number[]; filter?: string }): number[] {
  if (o.port && o.port.length > 0) return o.port;
  const fromFilter = [...(o.filter ?? "").matchAll(/\bport\s+(\d+)/g)].map((m) => Number(m[1]));
  return fromFilter.length > 0 ? fromFilter : [3306];
}

const time = (ts: number) =>
  new Date(ts / 1000).toISOString().slice(11, 23) + String(Math.floor(ts % 1000)).padStart(3, "0");
const ms = (us: number) => `${(us / 1000).toFixed(3)}ms`;
const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}...` : s).replace(/\s+/g, " ");

/** One line per event, for people. */
export function formatEvent(e: SessionEvent): string {
  const who = `#${e.session}`;
  switch (e.type) {
    case "connect": {
      const user = e.user ?? "?";
      const flags = [
        e.tls ? "TLS (not decoded)" : "",
        e.compressed ? "compressed" : "",
        e.midStream ? "mid-stream" : "",
      ]
        .filter(Boolean)
        .join(", ");
      const auth = e.authError ? ` REFUSED ${e.authError.errno}: ${e.authError.message}` : "";
      return `${time(e.ts)} ${who} connect ${user}@${e.client} -> ${e.server} db=${e.db ?? "-"}${e.serverVersion ? ` server=${e.serverVersion}` : ""}${e.connectionId !== undefined ? ` id=${e.connectionId}` : ""}${flags ? ` (${flags})` : ""}${auth}`;
    }
    case "command": {
      let what = e.sql !== undefined ? clip(e.sql) : "";
      if (e.statementId !== undefined) what = `stmt ${e.statementId}${what ? ` ${what}` : ""}`;
      if (e.params) what += ` (${e.params.map((p) => clip(formatParamValue(p), 80)).join(", ")})`;
      if (e.paramId !== undefined)
        what += ` param ${e.paramId}${e.bytes !== undefined ? `: ${formatBytes(e.bytes)}` : ""}`;
      return `${time(e.ts)} ${who}.${e.seq} ${e.kind} ${what}`.trimEnd();
    }
    case "response": {
      const head = e.ok ? "ok" : `ERR ${e.errno} (${e.sqlState ?? "-"}) ${clip(e.message ?? "", 200)}`;
      const parts = [head, ms(e.latencyUs)];
      if (e.resultSets > 0)
        parts.push(`rows=${e.rows} cols=${e.columns}${e.resultSets > 1 ? ` sets=${e.resultSets}` : ""}`);
      if (e.affectedRows > 0) parts.push(`affected=${e.affectedRows}`);
      if (e.statementId !== undefined) parts.push(`stmt=${e.statementId} params=${e.paramCount}`);
      if (e.warnings > 0) parts.push(`warnings=${e.warnings}`);
      return `${time(e.ts)} ${who}.${e.seq}   -> ${parts.join(" ")}`;
    }
    case "resync":
      return `${time(e.ts)} ${who} resync (${e.reason}${e.lostBytes ? `, ${e.lostBytes} bytes lost` : ""}${e.detail ? `: ${e.detail}` : ""})`;
    case "close":
      return `${time(e.ts)} ${who} close (${e.reason}, ${e.commands} commands)`;
  }
}

function statsLine(
  s: CaptureStats,
  extra: Record<string, number | string> = {},
): Record<string, number | string> {
  const skipped = Object.values(s.skipped).reduce((a, b) => a + (b ?? 0), 0);
  return {
    packets: s.frames,
    bytes: s.bytes,
    commands: s.commands,
    responses: s.responses,
    errors: s.errors,
    sessionsOpen: s.sessionsOpen,
    sessionsNew: s.sessionsNew,
    sessionsClosed: s.sessionsClosed,
    tlsSkipped: s.tlsSessions,
    resyncs: s.resyncs,
    gaps: s.gaps,
    lostBytes: s.lostBytes,
    retransmissions: s.retransmittedSegments,
    outOfOrder: s.outOfOrderSegments,
    overflowResets: s.overflowResets,
    decodeErrors: s.decodeErrors,
    skippedPackets: skipped,
    ...extra,
  };
}

function humanStats(line: Record<string, number | string>): string {
  return Object.entries(line)
    .map(([k, v]) => `${k}=${typeof v === "number" ? formatCount(v) : v}`)
    .join(" ");
}

/** `sluice capture ... | head`: the reader is gone, nothing more to say (tcpdump gets SIGPIPE in turn). */
function exitQuietlyOnClosedStdout(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(ExitCode.ok);
    throw e;
  });
}

/** Reads a capture file through the decoder; `between` runs after each chunk (backpressure). */
async function decodeFile(
  file: string,
  decoder: CaptureDecoder,
  between?: () => Promise<void>,
): Promise<void> {
  await readCaptureFile(file, (f) => decoder.frame(f), between);
  decoder.finish();
}

async function runCapture(o: CaptureOptions, cmd: Command): Promise<number> {
  const { logger, metricsPort } = await cliContext(cmd);
  if (!o.pcap === !o.interface)
    throw new SluiceError("USAGE_CAPTURE_SOURCE", "give exactly one of --pcap FILE or --interface IF", {
      hint: "sluice capture --pcap traffic.pcap --print, or sluice capture --interface lo",
    });
  const print = o.print || (!o.json && !o.to);
  exitQuietlyOnClosedStdout();
  const publisher = o.to
    ? await (await import("../../capture/publish.ts")).EventPublisher.open(
        o.to,
        o.stream,
        o.pcap ? "block" : "drop",
      )
    : undefined;
  if (publisher) logger.info({ url: publisher.url, run: publisher.run }, "publishing session events");
  // One write per batch instead of one per event (a write per event was a third of the CPU). stdout
  // is written synchronously on Linux (files, pipes, terminals), so a slow reader still slows the
  // decoding rather than filling memory; what is batched goes out as soon as the input waits.
  const writer = o.json || print ? new BatchedWriter(process.stdout, OUTPUT_BATCH) : undefined;
  const line = (s: string) => {
    writer!.text(s);
    if (writer!.full) void writer!.flush();
    else writer!.soon();
  };
  const out = (e: SessionEvent) => {
    // Into a stream log an event carries the capture run's id; --json prints it as the log holds it.
    const event = publisher ? publisher.stamp(e) : e;
    if (o.json) line(`${JSON.stringify(event)}\n`);
    else if (print) line(`${formatEvent(e)}\n`);
    publisher?.publish(event);
  };
  const decoderOptions: CaptureDecoderOptions = {
    serverPorts: serverPorts(o),
    idleTimeoutUs: o.idleTimeout * 1e6,
  };
  if (o.processlist) {
    const { processlistSnapshot } = await import("../../capture/processlist.ts");
    decoderOptions.knownSessions = await processlistSnapshot(o.processlist);
    logger.info(
      { connections: decoderOptions.knownSessions.size },
      "processlist read: open connections get their user and database",
    );
  }
  const decoder = new CaptureDecoder(out, decoderOptions);
  let kernelCounters: () => Record<string, number> = () => ({});
  // Rates over the last interval, as MRTE's collector printed them.
  let last = { at: Date.now(), packets: 0, commands: 0 };
  const report = (final: boolean, extra: Record<string, number | string> = {}) => {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - last.at) / 1000);
    const rates = final
      ? {}
      : {
          packetsPerSec: Math.round((decoder.stats.frames - last.packets) / seconds),
          commandsPerSec: Math.round((decoder.stats.commands - last.commands) / seconds),
        };
    last = { at: now, packets: decoder.stats.frames, commands: decoder.stats.commands };
    const line = statsLine(decoder.stats, {
      ...rates,
      ...extra,
      ...(publisher
        ? { published: publisher.stats().appended, queueDropped: publisher.stats().dropped }
        : {}),
    });
    if (o.json) process.stderr.write(`${JSON.stringify({ stats: line, final })}\n`);
    else process.stderr.write(`${final ? "total" : "stats"}: ${humanStats(line)}\n`);
  };
  if (metricsPort !== undefined)
    (await import("../../capture/metrics.ts")).exposeCaptureMetrics(() => ({
      ...statsLine(decoder.stats),
      ...kernelCounters(),
    }));
  try {
    if (o.pcap) {
      await decodeFile(o.pcap, decoder, publisher ? () => publisher.drain() : undefined);
      await writer?.flush();
      report(true);
      return ExitCode.ok;
    }
    return await runLive(
      o,
      decoder,
      (final, extra) => {
        // the final statistics come after the last event
        if (final) void writer?.flush();
        report(final, extra);
      },
      (msg) => logger.info(msg),
      (k) => {
        kernelCounters = k;
      },
      publisher,
    );
  } finally {
    await writer?.flush();
    await publisher?.close();
  }
}

async function runLive(
  o: CaptureOptions,
  decoder: CaptureDecoder,
  report: (final: boolean, extra?: Record<string, number | string>) => void,
  info: (message: string) => void,
  exposeKernel: (read: () => Record<string, number>) => void,
  publisher: EventPublisher | undefined,
): Promise<number> {
  const live = new LiveCapture(
    { interface: o.interface!, filter: o.filter, bufferKiB: o.bufferKib, immediate: o.immediate ?? false },
    (f) => decoder.frame(f),
  );
  const kernel = () => ({
    kernelDropped: live.kernelStats.droppedByKernel,
    interfaceDropped: live.kernelStats.droppedByInterface,
    receivedByFilter: live.kernelStats.receivedByFilter,
  });
  exposeKernel(kernel);
  const stop = () => void live.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // The stream log lost for good (the broker away for the whole reconnect budget): every later event
  // would be lost, so the capture stops and says why (a supervisor restarts it), rather than run on.
  let lost: unknown;
  publisher?.onFailure((e) => {
    lost = e;
    stop();
  });
  const timers: NodeJS.Timeout[] = [];
  if (o.statsInterval > 0) {
    timers.push(
      setInterval(() => {
        live.requestStats();
        // tcpdump answers on stderr within milliseconds; report with what has arrived.
        setTimeout(() => report(false, kernel()), 200).unref();
        // Idle sessions are closed on the wall clock too: a quiet capture has no frame to advance time.
        decoder.sweepIdle(Date.now() * 1000);
      }, o.statsInterval * 1000),
    );
  }
  if (o.duration !== undefined) timers.push(setTimeout(stop, o.duration * 1000));
  live.ready.then(
    () => info(`capturing on ${o.interface} (${o.filter}); Ctrl-C stops`),
    () => {},
  );
  try {
    await live.done;
  } finally {
    for (const t of timers) clearInterval(t);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  decoder.finish();
  report(true, kernel());
  if (lost !== undefined) throw lost;
  return ExitCode.ok;
}

interface DigestOptions {
  pcap?: string;
  interface?: string;
  filter: string;
  duration?: number;
  port: number[];
  json?: boolean;
  top: number;
}

async function runDigest(o: DigestOptions, cmd: Command): Promise<number> {
  await cliContext(cmd);
  exitQuietlyOnClosedStdout();
  if (!o.pcap === !o.interface || (o.interface && o.duration === undefined))
    throw new SluiceError(
      "USAGE_DIGEST_SOURCE",
      "give --pcap FILE, or --interface IF with --duration SECONDS",
      {
        hint: "sluice digest --pcap traffic.pcap, or sluice digest --interface lo --duration 60",
      },
    );
  const { QueryDigest } = await import("../../capture/digest.ts");
  const digest = new QueryDigest();
  const decoder = new CaptureDecoder((e) => digest.add(e), { serverPorts: serverPorts(o) });
  const source = o.pcap ?? `${o.interface} (${o.filter}, ${o.duration} s)`;
  if (o.pcap) await decodeFile(o.pcap, decoder);
  else {
    const live = new LiveCapture({ interface: o.interface!, filter: o.filter }, (f) => decoder.frame(f));
    const timer = setTimeout(() => void live.stop(), o.duration! * 1000);
    const stop = () => void live.stop();
    process.once("SIGINT", stop);
    try {
      await live.done;
    } finally {
      clearTimeout(timer);
      process.off("SIGINT", stop);
    }
    decoder.finish();
  }
  const rows = digest.rows(o.top);
  const s = decoder.stats;
  const spanUs = (s.lastTs ?? 0) - (s.firstTs ?? 0);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({
        source,
        span_us: spanUs,
        commands: digest.commands,
        distinct: digest.distinct,
        total_us: digest.totalUs,
        stats: statsLine(s),
        queries: rows,
      })}\n`,
    );
    return ExitCode.ok;
  }
  const total = digest.totalUs || 1;
  const lines = [
    `# ${source}: ${formatCount(digest.commands)} commands, ${formatCount(digest.distinct)} distinct, ${formatCount(s.sessionsNew)} sessions over ${(spanUs / 1e6).toFixed(3)} s, response time ${ms(digest.totalUs)}`,
    `# ${s.resyncs} resyncs, ${s.gaps} gaps, ${s.tlsSessions} TLS sessions skipped`,
    "",
    " rank    total    %    count      p50      p99      max  errors     rows  fingerprint",
  ];
  rows.forEach((r, i) => {
    lines.push(
      `${String(i + 1).padStart(5)} ${ms(r.totalUs).padStart(12)} ${((100 * r.totalUs) / total).toFixed(1).padStart(4)} ${String(r.count).padStart(8)} ${ms(r.p50Us).padStart(8)} ${ms(r.p99Us).padStart(8)} ${ms(r.maxUs).padStart(8)} ${String(r.errors).padStart(7)} ${String(r.rows + r.affectedRows).padStart(8)}  ${clip(r.fingerprint, 160)}`,
    );
  });
  process.stdout.write(`${lines.join("\n")}\n`);
  return ExitCode.ok;
}

export function register(program: Command): void {
  program
    .command("capture")
    .description(
      "Decode MySQL traffic into ordered session events (connect, command, response, close): from a pcap/pcapng file or live from an interface through tcpdump",
    )
    .option(
      "--pcap <file>",
      "read a pcap or pcapng file (tcpdump -w, tshark, -i any captures included); - reads standard input",
    )
    .option(
      "-i, --interface <name>",
      "capture live on this interface (runs tcpdump; needs root or CAP_NET_RAW)",
    )
    .option("--filter <bpf>", "BPF filter for live capture", "tcp port 3306")
    .option(
      "--port <port>",
      "MySQL server port (repeatable); default: the port in --filter, else 3306",
      portList,
    )
    .option("--print", "print the sessions for people (default unless --json or --to)")
    .option("--json", "one JSON object per event on stdout; statistics as JSON on stderr")
    .option(
      "--to <url>",
      "publish the events into the stream log (file:PATH, amqp://..., nats://... or redis://...): live with the drop policy, files with block",
    )
    .option("--stream <name>", "stream name in the log (default: the URL's, else 'capture')")
    .addOption(
      new Option("--stats-interval <seconds>", "live: statistics every N seconds (0: only at the end)")
        .default(10)
        .argParser(intOption("--stats-interval")),
    )
    .option("--duration <seconds>", "live: stop after N seconds", intOption("--duration"))
    .addOption(
      new Option("--idle-timeout <seconds>", "close sessions idle this long")
        .default(600)
        .argParser(intOption("--idle-timeout")),
    )
    .addOption(
      new Option("--buffer-kib <KiB>", "live: kernel capture buffer (tcpdump -B)")
        .default(32768)
        .argParser(intOption("--buffer-kib")),
    )
    .option("--immediate", "live: deliver packets at once rather than in kernel blocks (more CPU)")
    .option(
      "--processlist <url>",
      "live: read the server's processlist at start (mysql://user@host:port) so that connections already open get their user and database",
    )
    .addHelpText(
      "after",
      `
Examples:
  sluice capture --pcap traffic.pcap --print
  sluice capture --pcap traffic.pcapng --json > events.jsonl
  sluice capture --interface lo --filter 'tcp port 3306' --stats-interval 5
  sluice capture --interface any --to file:./capture.db --duration 60

TLS sessions are detected, counted and skipped (their content cannot be decoded).`,
    )
    .action(action((o: CaptureOptions, cmd: Command) => runCapture(o, cmd)));

  program
    .command("digest")
    .description(
      "Summarise a capture by query fingerprint (literals -> ?, IN lists folded): count, total/p50/p99/max response time, errors, rows",
    )
    .option("--pcap <file>", "the pcap or pcapng file")
    .option(
      "-i, --interface <name>",
      "capture live on this interface for --duration seconds instead (tcpdump)",
    )
    .option("--filter <bpf>", "BPF filter for live capture", "tcp port 3306")
    .option("--duration <seconds>", "live: how long to capture", intOption("--duration"))
    .option(
      "--port <port>",
      "MySQL server port (repeatable); default: the port in --filter, else 3306",
      portList,
    )
    .option("--json", "one JSON document")
    .addOption(
      new Option("--top <n>", "show the N queries with the most total response time")
        .default(20)
        .argParser(intOption("--top")),
    )
    .action(action((o: DigestOptions, cmd: Command) => runDigest(o, cmd)));
}
