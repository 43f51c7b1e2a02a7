import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { commands } from "./commands/index.ts";
import { ExitCode } from "./context.ts";

/** package.json is two levels up from src/cli, three from the compiled dist/src/cli. */
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
 * an unknown command, no command): help always lists every command and its options.
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
  const names = group === undefined ? Object.keys(commands) : [group];
  const modules = await Promise.all(names.map((n) => commands[n]!()));
  for (const m of modules) m.register(program);
  return program;
}

// `sluice ... | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv.slice(2));
  // Subcommands inherit exitOverride so that usage errors exit with code 2, not 1.
  const inherit = (c: Command) => {
    c.exitOverride();
    for (const s of c.commands) inherit(s);
  };
  inherit(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander prints its own errors before throwing; Sluice's usage errors are printed here.
      if (e.code.startsWith("sluice.")) process.stderr.write(`error: ${e.message}\n(add --help for usage)\n`);
      process.exitCode = e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    throw e;
  }
}

await main(process.argv);
