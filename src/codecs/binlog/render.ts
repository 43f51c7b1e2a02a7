/**
 * `sluice binlog read`'s two output formats as bytes: JSON lines (the output contract, rows events
 * transcoded from their bytes) or readable text, one line per event. Pure: events in, bytes into a sink.
 */
import type { BinlogEventDecoderOptions } from "./decoder.ts";
import type { BinlogEvent } from "./events.ts";
import { eventToText } from "./output.ts";
import { deferredRowsCodec, type JsonlSink, writeJsonLines } from "./rows-json/index.ts";

export type BinlogOutputFormat = "jsonl" | "text";

/** The decoder options a format needs: JSON lines are written from the bytes of rows and annotated statements, left undecoded. */
export function decoderOptionsFor(format: BinlogOutputFormat): BinlogEventDecoderOptions {
  return format === "jsonl" ? { rows: deferredRowsCodec, deferText: true } : {};
}

/** Appends the lines of `events` in `format` to `sink`. */
export function renderEvents(
  format: BinlogOutputFormat,
  events: readonly BinlogEvent[],
  sink: JsonlSink,
): void {
  if (format === "jsonl") writeJsonLines(events, sink);
  else for (const ev of events) sink.string(`${eventToText(ev)}\n`);
}
