import { type ChildProcess, spawn } from "node:child_process";
import { CaptureFileParser } from "../codecs/pcap/reader.ts";
import type { CapturedFrame } from "../codecs/pcap/record.ts";
import { SluiceError } from "../core/errors.ts";

/**
 * Live capture through tcpdump: `tcpdump -i IF -w - -U -s 0 [-B KiB] FILTER` writes pcap to a pipe
 * that Sluice parses as it arrives (docs/capture.md says why this route rather than a libpcap
 * binding). The server is never slowed: when Sluice falls behind, the pipe fills, tcpdump stops
 * reading its kernel ring, and the kernel drops packets and counts them. tcpdump reports those counts
 * on SIGUSR1 and when it exits; `kernelStats` holds the latest.
 */
export interface LiveCaptureOptions {
  interface: string;
  /** BPF filter. Default `tcp port 3306`. */
  filter?: string;
  /** Kernel capture buffer in KiB (tcpdump -B). Default 32768 (32 MiB). */
  bufferKiB?: number;
  /** Deliver each packet at once instead of in kernel-buffer blocks (more CPU, less delay). */
  immediate?: boolean;
  tcpdump?: string;
}

export interface KernelStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
  droppedByInterface: number;
}

/** Parses tcpdump's statistics lines (one line on SIGUSR1, three or four lines at exit). */
export function parseTcpdumpStats(text: string): Partial<KernelStats> {
  const pick = (re: RegExp) => {
    const all = [...text.matchAll(re)];
    const last = all.at(-1);
    return last ? Number(last[1]) : undefined;
  };
  const out: Partial<KernelStats> = {};
  const captured = pick(/(\d+) packets? captured/g);
  const received = pick(/(\d+) packets? received by filter/g);
  const kernel = pick(/(\d+) packets? dropped by kernel/g);
  const iface = pick(/(\d+) packets? dropped by interface/g);
  if (captured !== undefined) out.captured = captured;
  if (received !== undefined) out.receivedByFilter = received;
  if (kernel !== undefined) out.droppedByKernel = kernel;
  if (iface !== undefined) out.droppedByInterface = iface;
  return out;
}

export class LiveCapture {
  readonly kernelStats: KernelStats = {
    captured: 0,
    receivedByFilter: 0,
    droppedByKernel: 0,
    droppedByInterface: 0,
  };
  /** Resolves when tcpdump has exited and every frame it wrote was delivered. */
  readonly done: Promise<void>;
  /** Resolves once tcpdump says it is listening (rejects, like `done`, if it fails first). */
  readonly ready: Promise<void>;
  private readonly immediate: boolean;
  private markReady: () => void = () => {};
  private readonly child: ChildProcess;
  private stderrTail = "";
  private stopping = false;

  constructor(options: LiveCaptureOptions, onFrame: (frame: CapturedFrame) => void) {
    const args = [
      "-i",
      options.interface,
      "-w",
      "-",
      "-U",
      "-s",
      "0",
      "-B",
      String(options.bufferKiB ?? 32768),
    ];
    if (options.immediate) args.push("--immediate-mode");
    args.push(...(options.filter ?? "tcp port 3306").split(/\s+/).filter(Boolean));
    const tcpdump = options.tcpdump ?? "tcpdump";
    this.immediate = options.immediate ?? false;
    this.child = spawn(tcpdump, args, { stdio: ["ignore", "pipe", "pipe"] });
    const parser = new CaptureFileParser(onFrame, { file: `tcpdump -i ${options.interface}` });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-4000);
      Object.assign(this.kernelStats, parseTcpdumpStats(s));
      if (this.stderrTail.includes("listening on")) this.markReady();
    });
    this.done = new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        this.child.kill("SIGINT");
        reject(e);
      };
      this.child.stdout!.on("data", (chunk: Buffer) => {
        try {
          parser.push(chunk);
        } catch (e) {
          fail(e);
        }
      });
      this.child.on("error", (e: NodeJS.ErrnoException) =>
        fail(
          new SluiceError("CAPTURE_TCPDUMP", `cannot run ${tcpdump}: ${e.message}`, {
            context: { interface: options.interface },
            hint:
              e.code === "ENOENT"
                ? "install it (apt-get install -y tcpdump)"
                : "check that tcpdump can be run",
          }),
        ),
      );
      this.child.on("close", (code, signal) => {
        if (failed) return;
        if (!this.stopping && code !== 0) {
          fail(
            new SluiceError("CAPTURE_TCPDUMP", `tcpdump exited with ${code ?? signal}: ${this.lastLines()}`, {
              context: { interface: options.interface, filter: options.filter ?? "tcp port 3306" },
              hint: "check the interface name (ip link), the filter syntax, and that Sluice runs as root or with CAP_NET_RAW",
            }),
          );
          return;
        }
        resolve();
      });
    });
    this.ready = this.readyPromise();
    // Both are awaited by whoever cares; an unobserved rejection must not crash the process.
    this.ready.catch(() => {});
  }

  private readyPromise(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.done.then(resolve, reject);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Asks tcpdump for its counters (they arrive on stderr shortly after). */
  requestStats(): void {
    if (this.child.exitCode === null) this.child.kill("SIGUSR1");
  }

  /** Stops tcpdump (it prints its final counters) and waits until everything it wrote is decoded. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done;
    this.stopping = true;
    // Without immediate mode the kernel hands packets over in blocks at most 1 s old; a SIGINT
    // before then would lose the last, partly filled block. In immediate mode tcpdump still needs a
    // moment to read what the kernel queued last.
    await new Promise((r) => setTimeout(r, this.immediate ? 250 : 1100));
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGINT");
    await this.done;
  }

  private lastLines(): string {
    return this.stderrTail.trim().split("\n").slice(-3).join(" / ");
  }
}
