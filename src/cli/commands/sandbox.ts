import { type Command, Option } from "commander";
import { z } from "zod";
import { validateConfig } from "../../core/config.ts";
import { SluiceError } from "../../core/errors.ts";
import { formatDuration } from "../../core/units.ts";
import {
  listSandboxes,
  type MariadbSandboxOptions,
  registeredSandboxStatus,
  type SandboxRecord,
  sandboxRegistryDir,
  startRegisteredMariadb,
  startRegisteredMemcached,
  stopRegisteredSandbox,
} from "../../sandbox/index.ts";
import { action, cliContext, intOption } from "../context.ts";

interface StartOptions {
  kind: "mariadb" | "memcached";
  name?: string;
  dir?: string;
  rowMetadata?: MariadbSandboxOptions["binlogRowMetadata"];
  rowImage?: MariadbSandboxOptions["binlogRowImage"];
  binlogFormat?: MariadbSandboxOptions["binlogFormat"];
  port?: number;
  serverId?: number;
  gtidDomainId?: number;
  generalLog?: boolean;
  keep?: boolean;
  serverArg: string[];
  memoryMb?: number;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** The config file's `sandbox:` section: defaults for `sandbox start`, named like its flags. */
const sandboxConfigSchema = z
  .object({
    sandbox: z
      .object({
        dir: z.string().optional(),
        rowMetadata: z.enum(["FULL", "MINIMAL"]).optional(),
        rowImage: z.enum(["FULL", "MINIMAL", "NOBLOB"]).optional(),
        binlogFormat: z.enum(["ROW", "STATEMENT", "MIXED"]).optional(),
        gtidDomainId: z.number().int().min(0).optional(),
        generalLog: z.boolean().optional(),
        keep: z.boolean().optional(),
        serverArgs: z.array(z.string()).optional(),
        memoryMb: z.number().int().positive().optional(),
      })
      .strict(),
  })
  .strict();

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function register(program: Command): void {
  const sandbox = program
    .command("sandbox")
    .description(
      `throwaway MariaDB and memcached servers on 127.0.0.1 that outlive the command; recorded in ${sandboxRegistryDir()} ($SLUICE_SANDBOX_DIR)`,
    );

  sandbox
    .command("start")
    .description("start a sandboxed server and print its URLs (MariaDB: binlog on, ROW, FULL row metadata)")
    .addOption(
      new Option("--kind <kind>", "what to start").choices(["mariadb", "memcached"]).default("mariadb"),
    )
    .option("--name <name>", "sandbox name (default: generated)")
    .option("--dir <dir>", "parent directory of the datadir (default: a fresh directory under the temp dir)")
    .addOption(new Option("--row-metadata <m>", "binlog_row_metadata").choices(["FULL", "MINIMAL"]))
    .addOption(new Option("--row-image <i>", "binlog_row_image").choices(["FULL", "MINIMAL", "NOBLOB"]))
    .addOption(new Option("--binlog-format <f>", "binlog_format").choices(["ROW", "STATEMENT", "MIXED"]))
    .option("--port <n>", "port on 127.0.0.1 (default: a free one)", intOption("--port"))
    .option("--server-id <n>", "server_id (default: the port)", intOption("--server-id"))
    .option("--gtid-domain-id <n>", "gtid_domain_id (default 0)", intOption("--gtid-domain-id"))
    .option("--general-log", "turn the general query log on (to a file in the datadir)")
    .option("--keep", "keep the datadir when the sandbox is stopped")
    .option(
      "--server-arg <flag>",
      "one more mariadbd flag, e.g. --server-arg=--max-connections=500 (repeatable)",
      collect,
      [],
    )
    .option("--memory-mb <n>", "memcached item memory in MiB (default 64)", intOption("--memory-mb"))
    .option("--json", "print the sandbox record as JSON")
    .addHelpText(
      "after",
      `
Examples:
  sluice sandbox start --name source
  sluice sandbox start --name target --row-metadata MINIMAL --general-log --json
  sluice sandbox start --kind memcached --name cache
Defaults may come from the config file's sandbox section (dir, rowMetadata, rowImage, binlogFormat,
gtidDomainId, generalLog, keep, serverArgs, memoryMb); flags win.
The replication URL carries a password made for this throwaway, loopback-only server.`,
    )
    .action(
      action(async (flags: StartOptions, cmd: Command): Promise<undefined> => {
        const began = performance.now();
        const { config } = await cliContext(cmd);
        // Flags the user typed win over the config file's `sandbox:` section.
        const fromFile = validateConfig(
          { sandbox: config.sandbox ?? {} },
          sandboxConfigSchema,
          cmd.optsWithGlobals<{ config?: string }>().config ?? "config file",
        ).sandbox;
        const opts: StartOptions = {
          ...fromFile,
          ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
          serverArg: [...(fromFile.serverArgs ?? []), ...flags.serverArg],
        } as StartOptions;
        let rec: SandboxRecord;
        if (opts.kind === "memcached") {
          rec = await startRegisteredMemcached({
            ...(opts.name ? { name: opts.name } : {}),
            ...(opts.memoryMb ? { memoryMb: opts.memoryMb } : {}),
          });
        } else {
          rec = await startRegisteredMariadb({
            ...(opts.name ? { name: opts.name } : {}),
            ...(opts.dir ? { baseDir: opts.dir } : {}),
            ...(opts.rowMetadata ? { binlogRowMetadata: opts.rowMetadata } : {}),
            ...(opts.rowImage ? { binlogRowImage: opts.rowImage } : {}),
            ...(opts.binlogFormat ? { binlogFormat: opts.binlogFormat } : {}),
            ...(opts.port !== undefined ? { port: opts.port } : {}),
            ...(opts.serverId !== undefined ? { serverId: opts.serverId } : {}),
            ...(opts.gtidDomainId !== undefined ? { gtidDomainId: opts.gtidDomainId } : {}),
            ...(opts.generalLog ? { generalLog: true } : {}),
            ...(opts.keep ? { keep: true } : {}),
            ...(opts.serverArg.length ? { extraArgs: opts.serverArg } : {}),
          });
        }
        if (opts.json) {
          printJson(rec);
          return;
        }
        const lines = [
          `sandbox ${rec.name} (${rec.kind}) ready on 127.0.0.1:${rec.port} in ${formatDuration(performance.now() - began)}`,
          `  url:          ${rec.url}`,
        ];
        if (rec.replicationUrl) lines.push(`  replication:  ${rec.replicationUrl}`);
        if (rec.datadir) lines.push(`  datadir:      ${rec.datadir}`);
        if (rec.generalLogFile) lines.push(`  general log:  ${rec.generalLogFile}`);
        lines.push(`  stop with:    sluice sandbox stop ${rec.name}`);
        process.stdout.write(`${lines.join("\n")}\n`);
      }),
    );

  sandbox
    .command("stop")
    .description(
      "stop a sandbox started with `sandbox start` and remove its files (unless started with --keep)",
    )
    .argument("[name]", "the sandbox to stop")
    .option("--all", "stop every recorded sandbox")
    .option("--json", "print what was stopped as JSON")
    .action(
      action(
        async (name: string | undefined, opts: { all?: boolean; json?: boolean }): Promise<undefined> => {
          if (!name && !opts.all) {
            throw new SluiceError("USAGE_SANDBOX_STOP", "say which sandbox to stop", {
              hint: "sluice sandbox stop NAME, or sluice sandbox stop --all",
            });
          }
          const names = opts.all ? listSandboxes().map((s) => s.name) : [name!];
          const stopped = [];
          for (const n of names) {
            const { record, wasRunning } = await stopRegisteredSandbox(n);
            stopped.push({ name: record.name, kind: record.kind, port: record.port, wasRunning });
          }
          if (opts.json) {
            printJson({ stopped });
            return;
          }
          if (stopped.length === 0) process.stdout.write("no sandboxes recorded\n");
          for (const s of stopped) {
            process.stdout.write(
              s.wasRunning
                ? `stopped ${s.name} (port ${s.port})\n`
                : `${s.name} was not running; removed its record\n`,
            );
          }
        },
      ),
    );

  sandbox
    .command("status")
    .description("whether a sandbox runs, its port, binlog file/position and GTID position")
    .argument("<name>", "the sandbox")
    .option("--json", "print the status as JSON")
    .action(
      action(async (name: string, opts: { json?: boolean }) => {
        const st = await registeredSandboxStatus(name);
        if (opts.json) {
          printJson(st);
          return st.running ? undefined : 1;
        }
        const lines = [
          `${st.name} (${st.kind}): ${st.running ? "running" : "not running"}`,
          `  url:      ${st.url}`,
        ];
        lines.push(`  pid:      ${st.pid}`);
        if (st.version) lines.push(`  version:  ${st.version}`, `  serverId: ${st.serverId}`);
        if (st.binlogFile) lines.push(`  binlog:   ${st.binlogFile}:${st.binlogPosition}`);
        if (st.gtidBinlogPos !== undefined) lines.push(`  gtid:     ${st.gtidBinlogPos || "(empty)"}`);
        process.stdout.write(`${lines.join("\n")}\n`);
        return st.running ? undefined : 1;
      }),
    );

  sandbox
    .command("list")
    .description("list the sandboxes started with `sandbox start`")
    .option("--json", "print the list as JSON")
    .action(
      action((opts: { json?: boolean }): undefined => {
        const all = listSandboxes();
        if (opts.json) {
          printJson(all);
          return;
        }
        if (all.length === 0) {
          process.stdout.write(`no sandboxes recorded in ${sandboxRegistryDir()}\n`);
          return;
        }
        const rows = [
          ["NAME", "KIND", "STATE", "PORT", "PID", "URL"],
          ...all.map((s) => [
            s.name,
            s.kind,
            s.running ? "running" : "stopped",
            String(s.port),
            String(s.pid),
            s.url,
          ]),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) {
          process.stdout.write(
            `${r
              .map((c, i) => c.padEnd(widths[i]!))
              .join("  ")
              .trimEnd()}\n`,
          );
        }
      }),
    );
}
