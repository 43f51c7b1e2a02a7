/**
 * The root program and its command groups, loaded on demand (main.ts runs it).
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { commands } from "./commands/index.ts";

/** package.json is two levels up from src/cli, three from the compiled dist/src/cli (and from its bundle next to it). */
function packageVersion(): string {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "sluice" && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return "0.0.0";
}

/** Root options that take a value (the next word is theirs unless written `--opt=value`). */
const VALUED_ROOT_OPTIONS = new Set(["-c", "--config", "--log-format", "--log-level", "--metrics-port"]);

/** The command group an argument list names (its first word that is not a root option), if any. */
export function commandGroupOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return undefined;
    if (!a.startsWith("-")) return Object.hasOwn(commands, a) ? a : undefined;
    if (VALUED_ROOT_OPTIONS.has(a)) i++;
  }
  return undefined;
}

/**
 * The program with the command group `args` names, or with every group when it names none (help,
 * an unknown command, no command): help always lists every command and its options. A root
 * `--version` without help loads none.
 */
export async function buildProgram(args: string[] = []): Promise<Command> {
  const program = new Command("sluice")
    .description("See, move and replay what a MySQL/MariaDB server does.")
    .version(packageVersion())
    .option(
      "-c, --config <file>",
      "config file (YAML or JSON); flags override it, secrets come from env vars",
    )
    .option("--log-format <format>", "log format: human or json")
    .option("--log-level <level>", "log level: trace, debug, info, warn, error")
    .option("--metrics-port <port>", "serve Prometheus metrics on 127.0.0.1:<port>/metrics")
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  program.addHelpText(
    "after",
    `
Exit codes: 0 ok, 1 the work failed, 2 bad usage or config, 3 a check found a problem.
Secrets: passwords come from the URL or from SLUICE_MYSQL_PASSWORD / SLUICE_AMQP_PASSWORD; they are never printed.`,
  );
  const group = commandGroupOf(args);
  // `sluice --version` alone needs no command group (loading them all took 0.3 s)
  const versionOnly =
    group === undefined &&
    args.some((a) => a === "-V" || a === "--version") &&
    !args.some((a) => a === "-h" || a === "--help" || a === "help");
  const names = group !== undefined ? [group] : versionOnly ? [] : Object.keys(commands);
  const modules = await Promise.all(names.map((n) => commands[n]!()));
  for (const m of modules) m.register(program);
  return program;
}
