import { type Command, CommanderError } from "commander";
import { ExitCode } from "./context.ts";
import { buildProgram } from "./program.ts";

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
