import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";

/** One registry per process; every service registers its counters and gauges here. */
export const metricsRegistry = new Registry();
let defaultsCollected = false;

/** Serves `GET /metrics` in the Prometheus text format on 127.0.0.1:port (0 = any free port). */
export async function startMetricsServer(
  port: number,
  host = "127.0.0.1",
): Promise<{ server: Server; port: number }> {
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: metricsRegistry, prefix: "sluice_" });
    defaultsCollected = true;
  }
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      metricsRegistry
        .metrics()
        .then((body) => {
          res.writeHead(200, { "content-type": metricsRegistry.contentType });
          res.end(body);
        })
        .catch((e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        });
      return;
    }
    res.writeHead(404);
    res.end("see /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const addr = server.address();
  return { server, port: typeof addr === "object" && addr ? addr.port : port };
}
