/**
 * `npm run bench [-- name...] [--quick]`: runs the benchmarks in bench/ and writes docs/benchmarks.md
 * with the machine, the commands and the figures. Sections not run this time keep their last figures.
 */
import { execSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { BenchModule, BenchSection } from "./types.ts";

const registry: Record<string, () => Promise<{ default: BenchModule }>> = {
  "capture-decode": () => import("./capture-decode.ts"),
  "binlog-decode": () => import("./binlog-decode.ts"),
  "stream-log": () => import("./stream-log.ts"),
  "binlog-stream": () => import("./binlog-stream.ts"),
  cdc: () => import("./cdc.ts"),
  replay: () => import("./replay.ts"),
  "replay-follow-memory": () => import("./replay-follow-memory.ts"),
};

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const wanted = args.filter((a) => !a.startsWith("--"));
const names = wanted.length ? wanted : Object.keys(registry);
for (const n of names) {
  if (!registry[n]) {
    console.error(`unknown benchmark '${n}'; known: ${Object.keys(registry).join(", ") || "(none)"}`);
    process.exit(2);
  }
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  let os = "";
  try {
    os = execSync(". /etc/os-release && echo $PRETTY_NAME", { encoding: "utf8", shell: "/bin/sh" }).trim();
  } catch {}
  let mariadb = "";
  try {
    mariadb = execSync("mariadbd --version", { encoding: "utf8" }).trim().replace(/\s+/g, " ");
  } catch {}
  return `${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os}, Node ${process.version}${mariadb ? `, ${mariadb}` : ""}`;
}

const DOC = "docs/benchmarks.md";
const START = (n: string) => `<!-- bench:${n}:start -->`;
const END = (n: string) => `<!-- bench:${n}:end -->`;

const fresh = () =>
  existsSync(DOC)
    ? readFileSync(DOC, "utf8")
    : "# Benchmarks\n\nProduced by `npm run bench` (all) or `npm run bench -- NAME` (one section). Each section names the\nmachine and the command that produced it. Timing lives here, never in test assertions.\n";

for (const n of names) {
  const mod = (await registry[n]!()).default;
  console.error(`== ${n}`);
  const s: BenchSection = await mod.run({ quick });
  const when = new Date().toISOString().slice(0, 10);
  const body = `${START(n)}\n## ${s.title}\n\nMachine: ${machine()}. Run on ${when} with \`${s.command}\`.\n\n${s.markdown.trim()}\n${END(n)}`;
  console.log(body);
  // read again just before writing: another bench run may have written its own section meanwhile
  const doc = fresh();
  const re = new RegExp(`${START(n)}[\\s\\S]*?${END(n)}`);
  writeFileSync(DOC, re.test(doc) ? doc.replace(re, () => body) : `${doc.trimEnd()}\n\n${body}\n`);
}
console.error(`wrote ${DOC}`);
