import { Gauge } from "prom-client";
import { metricsRegistry } from "../core/metrics.ts";

/**
 * The capture's statistics as Prometheus metrics (`--metrics-port`): one gauge,
 * `sluice_capture{stat="packets"|"commands"|"kernel_dropped"|...}`, read from the running capture
 * whenever it is scraped (no per-packet cost).
 */
let source: (() => Record<string, number | string>) | undefined;
let registered = false;

export function exposeCaptureMetrics(read: () => Record<string, number | string>): void {
  source = read;
  if (registered) return;
  registered = true;
  // Registered in metricsRegistry by its constructor; read through collect() on every scrape.
  new Gauge({
    name: "sluice_capture",
    help: "Traffic capture statistics: packets, bytes, commands, sessions, drops (kernel, interface, queue), resyncs, ...",
    labelNames: ["stat"],
    registers: [metricsRegistry],
    collect() {
      if (!source) return;
      for (const [stat, value] of Object.entries(source())) {
        if (typeof value === "number")
          this.set({ stat: stat.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, value);
      }
    },
  });
}
