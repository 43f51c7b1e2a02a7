/**
 * Traffic capture: decoding one pcap of real sysbench traffic with Sluice, tshark (`-Y mysql.query`)
 * and pt-query-digest (`--type tcpdump`), in the same run; then a live capture of sysbench at the
 * highest rate this machine reaches, with the CPU of Sluice and of its tcpdump, Sluice's RSS and the
 * kernel's drops. The CLI runs compiled and bundled (`npm run build`), as an install runs it: through
 * the TypeScript loader its RSS was 25-60 MiB higher and its start-up 2 s longer.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { QueryDigest } from "../src/capture/digest.ts";
import { decodePcapFile } from "../src/capture/pcap-file.ts";
import { startMariadb } from "../src/sandbox/index.ts";
import { compiledCli } from "./compile-cli.ts";
import type { BenchModule } from "./types.ts";

const execFileAsync = promisify(execFile);
const have = (tool: string) => spawnSync("which", [tool]).status === 0;
const CLK_TCK = 100;

interface Measured {
  tool: string;
  wallS: number;
  cpuS: number;
  maxRssMb: number;
  queries: string;
}

/** Runs a shell pipeline under /usr/bin/time: wall, user+sys CPU (children included), max RSS. */
function timed(tool: string, command: string, queries: (stdout: string) => string): Measured {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S %M", "sh", "-c", command], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`${tool} failed: ${r.stderr.slice(-500)}`);
  return {
    tool,
    wallS: Number(m[1]),
    cpuS: Number(m[2]) + Number(m[3]),
    maxRssMb: Number(m[4]) / 1024,
    queries: queries(r.stdout),
  };
}

/** utime+stime (seconds) and peak RSS (MiB) of a live process, from /proc. */
function procUsage(pid: number): { cpuS: number; hwmMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpuS, hwmMb: Number(hwm?.[1] ?? 0) / 1024 };
}

const bench: BenchModule = {
  name: "capture-decode",
  async run({ quick }) {
    for (const t of ["tcpdump", "sysbench"])
      if (!have(t)) throw new Error(`${t} is needed (apt-get install -y ${t})`);
    const seconds = quick ? 2 : 5;
    const cli = compiledCli("capture");
    if (!cli) throw new Error("the CLI does not build (npm run build shows why)");
    const dir = mkdtempSync(join(tmpdir(), "sluice-capture-bench-"));
    const server = await startMariadb();
    try {
      await server.query("CREATE DATABASE sbtest");
      const sb = [
        "oltp_read_write",
        "--mysql-host=127.0.0.1",
        `--mysql-port=${server.port}`,
        "--mysql-user=root",
        "--mysql-db=sbtest",
        "--tables=4",
        "--table-size=10000",
      ];
      await execFileAsync("sysbench", [...sb, "prepare"]);
      const filter = `tcp port ${server.port}`;

      // 1. One pcap of real traffic, written by tcpdump.
      const pcap = join(dir, "sysbench.pcap");
      const writer = spawn(
        "tcpdump",
        ["-i", "lo", "-B", "131072", "-U", "-s", "0", "-w", pcap, "tcp", "port", String(server.port)],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      await waitListening(writer);
      await execFileAsync("sysbench", [...sb, "--threads=4", `--time=${seconds}`, "run"]);
      await sleep(1200);
      writer.kill("SIGINT");
      await new Promise((r) => writer.on("close", r));

      // In-process decode: the decoder's own cost, without Node/tsx start-up; best of 3 (the first
      // run pays for JIT warm-up, which a long-running capture pays once).
      let digest = new QueryDigest();
      let best = { wall: Number.POSITIVE_INFINITY, cpu: { user: 0, system: 0 } };
      let stats = await decodePcapFile(pcap, () => {}, { serverPorts: [server.port] });
      for (let i = 0; i < 3; i++) {
        digest = new QueryDigest();
        const d = digest;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        stats = await decodePcapFile(pcap, (e) => d.add(e), { serverPorts: [server.port] });
        const w = (performance.now() - t0) / 1000;
        if (w < best.wall) best = { wall: w, cpu: process.cpuUsage(cpu0) };
      }
      const wall = best.wall;
      const cpu = best.cpu;
      const frames = stats.frames;
      const mb = statSync(pcap).size / 2 ** 20;
      const rows: Measured[] = [
        {
          tool: "Sluice, in-process decode + digest (best of 3)",
          wallS: wall,
          cpuS: (cpu.user + cpu.system) / 1e6,
          maxRssMb: Number.NaN, // the bench's own process: the sandbox client, the loader
          queries: `${digest.commands} commands`,
        },
        timed(
          "`sluice digest` (whole CLI process)",
          `node ${cli} digest --pcap ${pcap} --port ${server.port} --json`,
          (out) => `${JSON.parse(out).commands} commands`,
        ),
        timed(
          "`sluice capture --json` (whole CLI process, every event printed)",
          `node ${cli} capture --pcap ${pcap} --port ${server.port} --json | wc -l`,
          (out) => `${Number(out.trim())} events`,
        ),
      ];
      if (have("tshark"))
        rows.push(
          timed(
            "`tshark -Y mysql.query`",
            `tshark -r ${pcap} -d tcp.port==${server.port},mysql -Y mysql.query -T fields -e mysql.query 2>/dev/null | wc -l`,
            (out) => `${out.trim()} mysql.query (COM_QUERY/PREPARE only)`,
          ),
        );
      if (have("pt-query-digest"))
        rows.push(
          timed(
            "`pt-query-digest --type tcpdump`",
            `tcpdump -r ${pcap} -x -n -q -tttt 2>/dev/null | pt-query-digest --type tcpdump --watch-server 127.0.0.1:${server.port} 2>/dev/null | grep '^# Overall'`,
            (out) =>
              out
                .replace(/^# Overall: /, "")
                .replace(/[_ ]+$/, "")
                .split(",")[0] ?? "",
          ),
        );
      const base = rows[0]!;
      const decodeTable = [
        `Input: ${frames} packets, ${mb.toFixed(1)} MiB, sysbench oltp_read_write 4 threads ${seconds} s (server-side prepared statements).`,
        "",
        "| tool | wall s | CPU s | packets/s | max RSS MiB | what it found | CPU vs Sluice |",
        "|---|---:|---:|---:|---:|---|---:|",
        ...rows.map(
          (r) =>
            `| ${r.tool} | ${r.wallS.toFixed(2)} | ${r.cpuS.toFixed(2)} | ${Math.round(frames / r.wallS).toLocaleString("en-US")} | ${Number.isNaN(r.maxRssMb) ? "-" : r.maxRssMb.toFixed(0)} | ${r.queries} | ${(r.cpuS / base.cpuS).toFixed(1)}x |`,
        ),
      ];

      // 2. Live: sysbench as fast as it goes, with and without `sluice capture -i lo` running.
      const baseline = await sysbenchQps(sb, seconds);
      const live = await measuredCapture(cli, filter, () => sysbenchQps(sb, seconds));
      const withCapture = live.result;
      const { elapsed, cpuS, tcpdumpCpuS, final } = live;
      const packets = final?.packets ?? 0;
      const pps = packets / elapsed;
      const perPacket = (s: number) => (packets > 0 ? ((1e6 * s) / packets).toFixed(1) : "?");
      const liveTable = [
        "| run | sysbench QPS | packets/s captured | Sluice CPU (% of one core) | Sluice CPU per packet (us) | tcpdump CPU (% of one core) | tcpdump CPU per packet (us) | Sluice peak RSS MiB | kernel drops | commands decoded |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        `| without capture | ${baseline.toFixed(0)} | - | - | - | - | - | - | - | - |`,
        `| with \`sluice capture -i lo --json\` | ${withCapture.toFixed(0)} | ${Math.round(pps).toLocaleString("en-US")} | ${((100 * cpuS) / elapsed).toFixed(1)} | ${perPacket(cpuS)} | ${((100 * tcpdumpCpuS) / elapsed).toFixed(1)} | ${perPacket(tcpdumpCpuS)} | ${live.hwmMb.toFixed(0)} | ${final?.kernelDropped ?? "?"} | ${final?.commands ?? "?"} |`,
      ];

      // 3. Live at fixed packet rates: the recorded pcap sent onto lo again by tcpreplay (to a port
      // nobody listens on), the same bytes in every run whatever else the machine does.
      const fixedRate = await fixedRateTable(cli, pcap, server.port, frames, dir);
      return {
        title: "Traffic capture: decoding a pcap, live capture under sysbench and at fixed packet rates",
        command: "npm run bench -- capture-decode",
        markdown: [
          "### Decoding the same pcap",
          "",
          ...decodeTable,
          "",
          "tshark's `mysql.query` field exists only for COM_QUERY and COM_STMT_PREPARE, so it finds the prepares and not the executions; pt-query-digest reads tcpdump's hex dump text. Both figures include their start-up, as do the whole-process Sluice rows (the compiled CLI, as `npm run build` makes it; Node's start-up and the CLI's module loading are about 0.2 s of them). The in-process row has no RSS of its own: it runs inside the bench.",
          "",
          "### Live capture of sysbench at full speed",
          "",
          ...liveTable,
          "",
          `2 cores are shared by MariaDB, sysbench, tcpdump and Sluice (and, on this machine, by other work: QPS varies by a third between identical runs). Whatever the capture costs the server is CPU taken from the same 2 cores, never back-pressure: the pipe from tcpdump never blocks the server, and what the kernel could not hand over is in the drops column. The capture's cost is Sluice's and tcpdump's CPU together (the seed's collector read libpcap in its own process). Sluice's CPU includes its JIT warm-up in the first second of traffic, which a long-running capture pays once, and costs per wake-up that fewer packets share at a lower rate: its CPU per packet is higher when this run's sysbench went slower. The seed's collector: 2-3% CPU and 10-15 MB RSS at 35,000 packets/s (the article does not say of what: its graph is the whole server's CPU use, which would make it far more than 2-3% of one core).`,
          ...fixedRate,
        ].join("\n"),
      };
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

interface CaptureRun<T> {
  result: T;
  elapsed: number;
  /** Sluice's and its tcpdump's CPU seconds while `load` ran. */
  cpuS: number;
  tcpdumpCpuS: number;
  hwmMb: number;
  final: Record<string, number> | undefined;
}

/**
 * Runs `sluice capture -i lo --json` (output to /dev/null), waits until it captures, runs `warm`
 * (if any) then `load`, and measures Sluice and tcpdump over `load` alone.
 */
async function measuredCapture<T>(
  cli: string,
  filter: string,
  load: () => Promise<T>,
  warm?: () => Promise<unknown>,
): Promise<CaptureRun<T>> {
  const capture = spawn(
    process.execPath,
    [cli, "capture", "--interface", "lo", "--filter", filter, "--json", "--stats-interval", "0"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  capture.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let tcpdumpPid = 0;
  await waitFor(() => {
    const r = spawnSync("pgrep", ["-P", String(capture.pid), "tcpdump"], { encoding: "utf8" });
    tcpdumpPid = Number(r.stdout.trim().split("\n")[0]);
    return r.status === 0;
  }, 30_000);
  // tcpdump is up once it says it listens; the CLI logs that line after it
  await waitFor(() => stderr.includes("capturing on"), 30_000);
  await sleep(500);
  if (warm) {
    await warm();
    await sleep(1000);
  }
  const before = procUsage(capture.pid!);
  const tcpdumpBefore = procUsage(tcpdumpPid);
  const t1 = performance.now();
  const result = await load();
  const elapsed = (performance.now() - t1) / 1000;
  const after = procUsage(capture.pid!);
  const tcpdumpAfter = procUsage(tcpdumpPid);
  capture.kill("SIGINT");
  await new Promise((r) => capture.on("close", r));
  const final = stderr
    .split("\n")
    .filter((l) => l.includes('"final":true'))
    .map((l) => JSON.parse(l) as { stats: Record<string, number> })[0]?.stats;
  return {
    result,
    elapsed,
    cpuS: after.cpuS - before.cpuS,
    tcpdumpCpuS: tcpdumpAfter.cpuS - tcpdumpBefore.cpuS,
    hwmMb: after.hwmMb,
    final,
  };
}

/** Rates tcpreplay sends the recorded traffic at: the sysbench run's, and the seed collector's. */
const FIXED_RATES = [12_000, 35_000];

async function fixedRateTable(
  cli: string,
  pcap: string,
  serverPort: number,
  frames: number,
  dir: string,
): Promise<string[]> {
  const tools = ["tcpreplay", "tcprewrite", "editcap"];
  if (!tools.every(have))
    return [
      "",
      `(The fixed-rate part needs ${tools.join(", ")}: apt-get install -y tcpreplay wireshark-common.)`,
    ];
  const port = await freePort();
  const moved = join(dir, "moved.pcap");
  await execFileAsync("tcprewrite", [
    `--portmap=${serverPort}:${port}`,
    `--infile=${pcap}`,
    `--outfile=${moved}`,
  ]);
  // the first third warms the capture up (JIT), the rest is measured
  const split = Math.floor(frames / 3);
  const warmPcap = join(dir, "warm.pcap");
  const measuredPcap = join(dir, "measured.pcap");
  await execFileAsync("editcap", ["-r", moved, warmPcap, `1-${split}`]);
  await execFileAsync("editcap", ["-r", moved, measuredPcap, `${split + 1}-${frames}`]);
  const sent = frames - split;
  const replay = (file: string, rate: number) => () =>
    execFileAsync("tcpreplay", ["-i", "lo", "--pps", String(rate), file]);
  const rows: string[] = [];
  for (const rate of FIXED_RATES) {
    const run = await measuredCapture(
      cli,
      `tcp port ${port}`,
      replay(measuredPcap, rate),
      replay(warmPcap, rate),
    );
    const us = (s: number) => ((1e6 * s) / sent).toFixed(1);
    rows.push(
      `| ${rate.toLocaleString("en-US")} | ${sent} | ${us(run.cpuS)} | ${((100 * run.cpuS) / run.elapsed).toFixed(1)} | ${us(run.tcpdumpCpuS)} | ${((100 * run.tcpdumpCpuS) / run.elapsed).toFixed(1)} | ${run.hwmMb.toFixed(0)} | ${run.final?.kernelDropped ?? "?"} |`,
    );
  }
  return [
    "",
    "### Live capture at fixed packet rates",
    "",
    `The same pcap sent onto lo again by \`tcpreplay --pps RATE\` (its server port moved to one nobody listens on), after its first ${split} packets as warm-up: the same bytes at the same rate in every run, whatever else the machine is doing. CPU per packet is over the packets sent.`,
    "",
    "| packets/s | packets measured | Sluice CPU per packet (us) | Sluice CPU (% of one core) | tcpdump CPU per packet (us) | tcpdump CPU (% of one core) | Sluice peak RSS MiB | kernel drops (warm-up included) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function sysbenchQps(sb: string[], seconds: number): Promise<number> {
  const { stdout } = await execFileAsync("sysbench", [...sb, "--threads=4", `--time=${seconds}`, "run"]);
  const m = /queries:\s+\d+\s+\(([\d.]+) per sec/.exec(stdout);
  return Number(m?.[1] ?? 0);
}

async function waitListening(child: ChildProcess): Promise<void> {
  let text = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("listening on")) resolve();
    });
    child.on("close", () => reject(new Error(`tcpdump exited: ${text}`)));
  });
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting for the capture to start");
    await sleep(100);
  }
}

export default bench;
