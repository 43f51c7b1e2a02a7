import { createReadStream } from "node:fs";
import { CaptureFileParser } from "../codecs/pcap/reader.ts";
import { CaptureDecoder, type CaptureDecoderOptions, type CaptureStats } from "./decoder.ts";
import type { SessionEvent } from "./events.ts";

/** Decodes a pcap/pcapng file into session events (in capture order). Returns the statistics. */
export async function decodePcapFile(
  file: string,
  onEvent: (e: SessionEvent) => void,
  options: CaptureDecoderOptions = {},
): Promise<CaptureStats> {
  const decoder = new CaptureDecoder(onEvent, options);
  const parser = new CaptureFileParser((f) => decoder.frame(f), { file });
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 }))
    parser.push(chunk as Buffer);
  parser.end();
  decoder.finish();
  return decoder.stats;
}
