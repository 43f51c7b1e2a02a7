import { type Command, CommanderError } from "commander";
import { isSluiceError, messageOf } from "../core/errors.ts";
// Config, logger and metrics load on first use: a command that needs none of them starts faster.
import type { LogFormat, Logger } from "../core/logger.ts";
import type { ConfigFile } from "./config-schema.ts";

/** Exit codes, the same for every command. */
export const ExitCode = {
  ok: 0,
  /** The work failed: a server, a file or the data said no. */
  failure: 1,
  /** Bad usage: unknown flag, invalid config. */
  usage: 2,
  /** A check ran and found a problem (e.g. `cdc status --max-lag` exceeded). */
  checkFailed: 3,
} as const;

export interface CliContext {
  logger: Logger;
  config: ConfigFile;
  logFormat: LogFormat;
  /** The port metrics are served on (--metrics-port or the config's metricsPort), if any. */
  metricsPort: number | undefined;
}

let cached: CliContext | undefined;

/** Builds (once) the logger, config and metrics endpoint from the global options. */
async function loadConfig(path: string): Promise<ConfigFile> {
  const [{ loadConfigFile }, { configFileSchema }] = await Promise.all([
    import("../core/config.ts"),
    import("./config-schema.ts"),
  ]);
  return loadConfigFile(path, configFileSchema);
}

export async function cliContext(cmd: Command): Promise<CliContext> {
  if (cached) return cached;
  const g = cmd.optsWithGlobals<{
    config?: string;
    logFormat?: string;
    logLevel?: string;
    metricsPort?: string;
  }>();
  const config: ConfigFile = g.config ? await loadConfig(g.config) : {};
  const logFormat = (g.logFormat ?? config.log?.format ?? "human") as LogFormat;
  const level = g.logLevel ?? config.log?.level;
  const { createLogger } = await import("../core/logger.ts");
  const logger = createLogger({ format: logFormat, ...(level ? { level } : {}) });
  // The stream log reports a lost broker and its reconnects on a diagnostics channel; print them.
  (await import("../stream/diagnostics.ts")).logStreamConnectionEvents(logger);
  const metricsPort = g.metricsPort !== undefined ? Number(g.metricsPort) : config.metricsPort;
  if (metricsPort !== undefined) {
    const { startMetricsServer } = await import("../core/metrics.ts");
    const { port } = await startMetricsServer(metricsPort);
    logger.info({ port }, `metrics on http://127.0.0.1:${port}/metrics`);
  }
  cached = { logger, config, logFormat, metricsPort };
  return cached;
}

/**
 * Wraps a command's action: runs it, and on error prints what, where and what to do (as JSON when
 * asked), then sets the exit code. Actions return an exit code or nothing (= ok).
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | undefined> | number | undefined,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? ExitCode.ok;
    } catch (e) {
      process.exitCode = reportError(e, args);
    }
  };
}

function reportError(e: unknown, args: unknown[]): number {
  const cmd = args.find((a): a is Command => typeof a === "object" && a !== null && "optsWithGlobals" in a);
  const json = cmd
    ? Boolean(cmd.optsWithGlobals<{ json?: boolean; logFormat?: string }>().json) ||
      cmd.optsWithGlobals<{ logFormat?: string }>().logFormat === "json"
    : false;
  if (e instanceof CommanderError) {
    if (json) process.stderr.write(`${JSON.stringify({ error: { code: "USAGE", message: e.message } })}\n`);
    else process.stderr.write(`error: ${e.message}\n(add --help for usage)\n`);
    return ExitCode.usage;
  }
  if (isSluiceError(e)) {
    if (json) process.stderr.write(`${JSON.stringify({ error: e.toJSON() })}\n`);
    else process.stderr.write(`error: ${e.describe()}\n`);
    return e.code.startsWith("CONFIG_") || e.code.startsWith("USAGE_") ? ExitCode.usage : ExitCode.failure;
  }
  if (json)
    process.stderr.write(`${JSON.stringify({ error: { code: "INTERNAL", message: messageOf(e) } })}\n`);
  else
    process.stderr.write(
      `error: ${messageOf(e)}\n${e instanceof Error && process.env.SLUICE_DEBUG ? `${e.stack}\n` : ""}`,
    );
  return ExitCode.failure;
}

/** Parses an integer flag, with an error that names the flag. */
export function intOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n))
      throw new CommanderError(
        ExitCode.usage,
        "sluice.invalidArgument",
        `${name} must be an integer, got '${value}'`,
      );
    return n;
  };
}

/** Parses an integer flag of at least 1 (a count, a size, an interval). */
export function positiveIntOption(name: string) {
  const parse = intOption(name);
  return (value: string): number => {
    const n = parse(value);
    if (n < 1)
      throw new CommanderError(ExitCode.usage, "sluice.invalidArgument", `${name} must be at least 1`);
    return n;
  };
}
