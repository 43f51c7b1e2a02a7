import { Counter, Gauge } from "prom-client";
import { metricsRegistry } from "../core/metrics.ts";

/** Prometheus metrics of `sluice cdc` (served by the CLI's --metrics-port). */
export interface CdcMetrics {
  events: Counter;
  transactions: Counter;
  rows: Counter<"outcome">;
  checkpoints: Counter;
  processedUpTo: Gauge;
  lag: Gauge;
  openRanges: Gauge;
}

let metrics: CdcMetrics | undefined;

export function cdcMetrics(): CdcMetrics {
  if (metrics) return metrics;
  const registers = [metricsRegistry];
  metrics = {
    events: new Counter({ name: "sluice_cdc_events_total", help: "binlog events read", registers }),
    transactions: new Counter({
      name: "sluice_cdc_transactions_total",
      help: "transactions finished",
      registers,
    }),
    rows: new Counter({
      name: "sluice_cdc_rows_total",
      help: "row changes seen, by outcome (kept = passed the filters)",
      labelNames: ["outcome"],
      registers,
    }),
    checkpoints: new Counter({ name: "sluice_cdc_checkpoints_total", help: "checkpoints saved", registers }),
    processedUpTo: new Gauge({
      name: "sluice_cdc_processed_up_to_seconds",
      help: "binlog time everything before which is processed (unix seconds)",
      registers,
    }),
    lag: new Gauge({ name: "sluice_cdc_lag_seconds", help: "now - processed up to", registers }),
    openRanges: new Gauge({
      name: "sluice_cdc_open_ranges",
      help: "open ranges of a partitioned catch-up",
      registers,
    }),
  };
  return metrics;
}
