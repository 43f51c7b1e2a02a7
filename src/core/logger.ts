import { type Logger, pino } from "pino";

export type LogFormat = "human" | "json";
export type { Logger };

/** Keys whose values never reach a log line. */
const REDACT = [
  "password",
  "*.password",
  "*.*.password",
  "secret",
  "*.secret",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
];

/**
 * The CLI's logger: human-readable lines on stderr by default, one JSON object per line with
 * `--log-format json`. Library code does not log; it returns values, throws SluiceErrors or emits on
 * diagnostics channels, and the CLI decides what to print.
 */
export function createLogger(
  opts: { format?: LogFormat; level?: string; destination?: number } = {},
): Logger {
  const level = opts.level ?? process.env.SLUICE_LOG_LEVEL ?? "info";
  const fd = opts.destination ?? 2;
  if (opts.format === "json") {
    return pino(
      { level, redact: { paths: REDACT, censor: "***" }, base: { pid: process.pid } },
      pino.destination({ fd, sync: true }),
    );
  }
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: "***" },
      base: null,
    },
    prettyStream(fd),
  );
}

function prettyStream(fd: number): NodeJS.WritableStream {
  // pino-pretty as a synchronous stream (no worker thread) so that lines are never lost on exit.
  // eslint-style require through createRequire keeps this an optional, lazily loaded dependency.
  const pretty = loadPretty();
  return pretty({
    destination: fd,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: "HH:MM:ss.l",
    ignore: "pid,hostname",
    singleLine: true,
  });
}

import { createRequire } from "node:module";

function loadPretty(): (o: Record<string, unknown>) => NodeJS.WritableStream {
  const require = createRequire(import.meta.url);
  return require("pino-pretty") as (o: Record<string, unknown>) => NodeJS.WritableStream;
}
