import type { Command } from "commander";
import { parseTimePoint } from "../../cdc/time.ts";
import { SluiceError } from "../../core/errors.ts";
import { type HistoryEntry, openHistoryStore } from "../../sinks/history/index.ts";
import { action, ExitCode, intOption } from "../context.ts";

interface CommonOptions {
  store: string;
  from?: string;
  to?: string;
  since?: string;
  limit: number;
  json?: boolean;
}

function splitTable(name: string): { schema: string; table: string } {
  const dot = name.indexOf(".");
  if (dot <= 0 || dot === name.length - 1)
    throw new SluiceError("USAGE_HISTORY_TABLE", `'${name}' is not schema.table`, {
      hint: "e.g. shop.users",
    });
  return { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

function show(v: unknown): string {
  if (v === undefined) return "-";
  if (v === null) return "NULL";
  if (typeof v === "string") return `'${v.length > 80 ? `${v.slice(0, 77)}...` : v}'`;
  return JSON.stringify(v);
}

function when(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace(".000Z", "Z");
}

/** A readable timeline: one block per change, columns as `name = value` or `name: before -> after`. */
export function formatTimeline(entries: readonly HistoryEntry[], withPk: boolean): string {
  const lines: string[] = [];
  for (const e of entries) {
    const who = [e.gtid ? `gtid ${e.gtid}` : undefined, `server ${e.serverId}`, `${e.file}:${e.pos}`].filter(
      Boolean,
    );
    lines.push(
      `${when(e.timestamp)}  ${e.kind.padEnd(6)}${withPk ? `  pk=${e.pk ?? "?"}` : ""}  (${who.join(", ")})`,
    );
    const width = Math.max(0, ...e.columns.map((c) => c.name.length));
    for (const c of e.columns) {
      const name = c.name.padEnd(width);
      if (e.kind === "update") lines.push(`    ${name}  ${show(c.before)} -> ${show(c.after)}`);
      else lines.push(`    ${name}  ${show(e.kind === "insert" ? c.after : c.before)}`);
    }
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

async function historyCommand(target: string, pk: string | undefined, o: CommonOptions): Promise<number> {
  const { schema, table } = splitTable(target);
  const now = Math.floor(Date.now() / 1000);
  const from =
    o.from !== undefined
      ? parseTimePoint(o.from, now, "--from")
      : o.since !== undefined
        ? parseTimePoint(o.since, now, "--since")
        : undefined;
  const to = o.to !== undefined ? parseTimePoint(o.to, now, "--to") : undefined;
  const store = await openHistoryStore(o.store);
  try {
    const entries = await store.query({
      schema,
      table,
      ...(pk !== undefined ? { pk } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      limit: o.limit,
    });
    if (o.json) {
      process.stdout.write(
        `${JSON.stringify({ schema, table, pk: pk ?? null, from: from ?? null, to: to ?? null, entries })}\n`,
      );
      return ExitCode.ok;
    }
    if (entries.length === 0) {
      process.stdout.write(
        `no changes of ${schema}.${table}${pk !== undefined ? ` pk=${pk}` : ""} in that time\n`,
      );
      return ExitCode.ok;
    }
    process.stdout.write(formatTimeline(entries, pk === undefined));
    if (pk === undefined) {
      const byKind = new Map<string, number>();
      const byServer = new Map<number, number>();
      for (const e of entries) {
        byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
        byServer.set(e.serverId, (byServer.get(e.serverId) ?? 0) + 1);
      }
      const txs = new Set(entries.map((e) => `${e.file}:${e.pos}`)).size;
      process.stdout.write(
        `\n${entries.length} changes in ${txs} transactions: ${[...byKind].map(([k, n]) => `${n} ${k}`).join(", ")}; by server: ${[...byServer].map(([s, n]) => `${s} (${n})`).join(", ")}${entries.length === o.limit ? ` (first ${o.limit}; raise --limit for more)` : ""}\n`,
      );
    }
    return ExitCode.ok;
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  const history = program
    .command("history")
    .description("answer questions from the change-history store that `sluice cdc run` fills");
  const common = (c: Command) =>
    c
      .option("--store <url>", "history store: file:PATH or mysql://.../db", "file:./history.db")
      .option("--from <time>", "from this time (ISO time, unix seconds, or how long ago: 2h)")
      .option("--to <time>", "up to this time")
      .option("--limit <n>", "at most N changes", intOption("--limit"), 1000)
      .option("--json", "print as JSON");
  common(
    history
      .command("row")
      .description("what happened to one row (by primary key) between two times, as a timeline")
      .argument("<table>", "schema.table")
      .requiredOption("--pk <values>", "primary key value(s), comma-separated in key order"),
  ).action(
    action(async (table: string, o: CommonOptions & { pk: string }) => historyCommand(table, o.pk, o)),
  );
  common(
    history
      .command("table")
      .description("who changed this table and what, e.g. in the last hour (--since 1h)")
      .argument("<table>", "schema.table")
      .option("--since <duration>", "changes in the last DURATION (e.g. 1h); same as --from"),
  ).action(action(async (table: string, o: CommonOptions) => historyCommand(table, undefined, o)));
}
