import assert from "node:assert/strict";
import { test } from "node:test";
import { exposeCaptureMetrics } from "../../../src/capture/metrics.ts";
import { metricsRegistry } from "../../../src/core/metrics.ts";

test("capture statistics are read at scrape time as sluice_capture{stat=...}", async () => {
  let packets = 5;
  exposeCaptureMetrics(() => ({ packets, kernelDropped: 2, url: "not a number" }));
  assert.match(await metricsRegistry.metrics(), /sluice_capture\{stat="packets"\} 5\n/);
  packets = 9;
  const text = await metricsRegistry.metrics();
  assert.match(text, /sluice_capture\{stat="packets"\} 9\n/);
  assert.match(text, /sluice_capture\{stat="kernel_dropped"\} 2\n/);
  assert.doesNotMatch(text, /stat="url"/);
});
