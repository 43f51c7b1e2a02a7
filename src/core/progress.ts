import cliProgress from "cli-progress";
import { formatCount, formatDuration } from "./units.ts";

export interface Progress {
  /** Sets the amount done (and optionally a new total). */
  update(done: number, total?: number): void;
  stop(): void;
}

/**
 * A progress bar on a terminal (done/total, rate, time to go); plain lines every `intervalMs` when
 * stderr is not a terminal (CI logs, pipes), and nothing at all when `quiet`.
 */
export function createProgress(
  label: string,
  total: number,
  opts: { quiet?: boolean; intervalMs?: number; stream?: NodeJS.WriteStream } = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { update() {}, stop() {} };
  const started = Date.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% {value}/{total} {rate}/s eta {eta_formatted}`,
        stream,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: "0" });
    return {
      update(done, newTotal) {
        if (newTotal !== undefined) bar.setTotal(newTotal);
        const secs = (Date.now() - started) / 1000;
        bar.update(done, { rate: formatCount(secs > 0 ? done / secs : 0) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const interval = opts.intervalMs ?? 5000;
  let last = 0;
  let current = 0;
  let max = total;
  const line = () => {
    const elapsed = Date.now() - started;
    const rate = elapsed > 0 ? (current / elapsed) * 1000 : 0;
    const eta = rate > 0 && max > current ? formatDuration(((max - current) / rate) * 1000) : "-";
    stream.write(
      `${label}: ${current}/${max} (${max ? ((current / max) * 100).toFixed(1) : "0"}%) ${formatCount(rate)}/s eta ${eta}\n`,
    );
  };
  return {
    update(done, newTotal) {
      current = done;
      if (newTotal !== undefined) max = newTotal;
      const now = Date.now();
      if (now - last >= interval) {
        last = now;
        line();
      }
    },
    stop() {
      line();
    },
  };
}
