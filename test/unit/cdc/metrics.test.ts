import assert from "node:assert/strict";
import { test } from "node:test";
import { cdcMetrics } from "../../../src/cdc/metrics.ts";
import { parseDuration, parseTimePoint } from "../../../src/cdc/time.ts";
import { metricsRegistry } from "../../../src/core/metrics.ts";
import { parseStoreUrl } from "../../../src/sinks/types.ts";

test("the cdc metrics are registered once, in the Prometheus text format", async () => {
  const m = cdcMetrics();
  assert.equal(cdcMetrics(), m);
  m.rows.inc({ outcome: "kept" }, 3);
  m.lag.set(42);
  const text = await metricsRegistry.metrics();
  for (const name of [
    "sluice_cdc_events_total",
    "sluice_cdc_transactions_total",
    "sluice_cdc_checkpoints_total",
    "sluice_cdc_processed_up_to_seconds",
    "sluice_cdc_open_ranges",
  ])
    assert.match(text, new RegExp(`^# TYPE ${name} `, "m"));
  assert.match(text, /^sluice_cdc_rows_total\{outcome="kept"\} 3$/m);
  assert.match(text, /^sluice_cdc_lag_seconds 42$/m);
});

test("durations, points in time and store URLs as users write them", () => {
  assert.equal(parseDuration("90s"), 90);
  assert.equal(parseDuration("5m"), 300);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("2d"), 172800);
  assert.equal(parseDuration("12"), 12);
  assert.throws(() => parseDuration("5 minutes"), { code: "USAGE_DURATION" });
  assert.throws(() => parseDuration("m5"), { code: "USAGE_DURATION" });
  const now = 1_800_000_000;
  assert.equal(parseTimePoint("1h", now), now - 3600);
  assert.equal(parseTimePoint("1700000000", now), 1_700_000_000);
  assert.equal(parseTimePoint("2026-11-22T10:00:00Z", now), Date.parse("2026-11-22T10:00:00Z") / 1000);
  assert.equal(parseTimePoint("2026-11-22", now), Date.parse("2026-11-22") / 1000);
  assert.throws(() => parseTimePoint("yesterday", now), { code: "USAGE_TIME" });
  assert.deepEqual(parseStoreUrl("file:./h.db"), { kind: "sqlite", path: "./h.db" });
  assert.deepEqual(parseStoreUrl("file:///tmp/h.db"), { kind: "sqlite", path: "/tmp/h.db" });
  assert.deepEqual(parseStoreUrl("history.db"), { kind: "sqlite", path: "history.db" });
  assert.deepEqual(parseStoreUrl("mysql://u:p@h:3306/history"), {
    kind: "mysql",
    url: "mysql://u:p@h:3306/history",
  });
});
