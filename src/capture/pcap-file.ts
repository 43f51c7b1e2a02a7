import { createReadStream, statSync } from "node:fs";
import { CaptureFileParser } from "../codecs/pcap/reader.ts";
import type { CapturedFrame } from "../codecs/pcap/record.ts";
import { SluiceError } from "../core/errors.ts";
import { CaptureDecoder, type CaptureDecoderOptions, type CaptureStats } from "./decoder.ts";
import type { SessionEvent } from "./events.ts";

/**
 * Reads a pcap/pcapng file (or standard input for "-", e.g. `tcpdump -w - | sluice capture --pcap -`)
 * frame by frame (256 KiB chunks, bounded memory). `between` runs after each
 * chunk and is awaited: a slow consumer (a stream log under `block`) slows the reading.
 */
export async function readCaptureFile(
  file: string,
  onFrame: (frame: CapturedFrame) => void,
  between?: () => Promise<void>,
): Promise<void> {
  const fromStdin = file === "-";
  try {
    if (!fromStdin) statSync(file);
  } catch {
    throw new SluiceError("CAPTURE_NO_FILE", `no such capture file: ${file}`, {
      context: { file },
      hint: "record one with: tcpdump -i any -w FILE -s 0 'tcp port 3306'",
    });
  }
  const parser = new CaptureFileParser(onFrame, { file });
  const input = fromStdin ? process.stdin : createReadStream(file, { highWaterMark: 256 * 1024 });
  for await (const chunk of input) {
    parser.push(chunk as Buffer);
    if (between) await between();
  }
  parser.end();
}

/** Decodes a pcap/pcapng file into session events (in capture order). Returns the statistics. */
export async function decodePcapFile(
  file: string,
  onEvent: (e: SessionEvent) => void,
  options: CaptureDecoderOptions = {},
): Promise<CaptureStats> {
  const decoder = new CaptureDecoder(onEvent, options);
  await readCaptureFile(file, (f) => decoder.frame(f));
  decoder.finish();
  return decoder.stats;
}
