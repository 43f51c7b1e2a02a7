import { Counter, Gauge } from "prom-client";
import { metricsRegistry } from "../core/metrics.ts";

/** The stream log's Prometheus metrics, registered once per process in `metricsRegistry`. */
export interface StreamMetrics {
  appended: Counter<"stream" | "policy">;
  dropped: Counter<"stream">;
  failed: Counter<"stream" | "policy">;
  queued: Gauge<"stream" | "policy">;
  read: Counter<"stream" | "group">;
  committed: Gauge<"stream" | "group">;
}

let metrics: StreamMetrics | undefined;

export function streamMetrics(): StreamMetrics {
  const registers = [metricsRegistry];
  metrics ??= {
    appended: new Counter({
      name: "sluice_stream_appended_records_total",
      help: "Records durably written to the stream log",
      labelNames: ["stream", "policy"],
      registers,
    }),
    dropped: new Counter({
      name: "sluice_stream_dropped_records_total",
      help: "Records dropped by the drop policy because the producer's queue was full",
      labelNames: ["stream"],
      registers,
    }),
    failed: new Counter({
      name: "sluice_stream_failed_records_total",
      help: "Records accepted by a producer that could not be written",
      labelNames: ["stream", "policy"],
      registers,
    }),
    queued: new Gauge({
      name: "sluice_stream_queued_records",
      help: "Records waiting in producers' memory",
      labelNames: ["stream", "policy"],
      registers,
    }),
    read: new Counter({
      name: "sluice_stream_read_records_total",
      help: "Records delivered to consumers",
      labelNames: ["stream", "group"],
      registers,
    }),
    committed: new Gauge({
      name: "sluice_stream_committed_offset",
      help: "The last offset committed by a consumer group",
      labelNames: ["stream", "group"],
      registers,
    }),
  };
  return metrics;
}
