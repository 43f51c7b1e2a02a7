export {
  BinlogEventDecoder,
  type BinlogEventDecoderOptions,
  decodeEventHeader,
  type EventSource,
  type RowsCodec,
} from "./decoder.ts";
export { nextBinlogFileName } from "./events/rotate.ts";
export * from "./events.ts";
export { BinlogFramer, type FramedEvent } from "./framer.ts";
export * from "./gtid.ts";
export { ByteReader } from "./reader.ts";
export * from "./types.ts";
