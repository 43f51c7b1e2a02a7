import { Counter, Gauge } from "prom-client";
import { metricsRegistry } from "../../core/metrics.ts";

/** The replication stream's Prometheus metrics, registered once per process in `metricsRegistry`. */
export interface ReplicationMetrics {
  events: Counter<"server" | "type">;
  bytes: Counter<"server">;
  reconnects: Counter<"server">;
  lagSeconds: Gauge<"server">;
}

let metrics: ReplicationMetrics | undefined;

export function replicationMetrics(): ReplicationMetrics {
  metrics ??= {
    events: new Counter({
      name: "sluice_binlog_stream_events_total",
      help: "Binlog events received from the server, by event type",
      labelNames: ["server", "type"],
      registers: [metricsRegistry],
    }),
    bytes: new Counter({
      name: "sluice_binlog_stream_bytes_total",
      help: "Binlog event bytes received from the server",
      labelNames: ["server"],
      registers: [metricsRegistry],
    }),
    reconnects: new Counter({
      name: "sluice_binlog_stream_reconnects_total",
      help: "Reconnections after a lost replication connection",
      labelNames: ["server"],
      registers: [metricsRegistry],
    }),
    lagSeconds: new Gauge({
      name: "sluice_binlog_stream_lag_seconds",
      help: "Now minus the timestamp of the last event received (0 after a heartbeat: nothing newer exists)",
      labelNames: ["server"],
      registers: [metricsRegistry],
    }),
  };
  return metrics;
}
