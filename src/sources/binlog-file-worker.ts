/**
 * Worker thread of a parallel binlog read (binlog-file-parallel.ts): renders the chunks it is sent,
 * in order, between the buffers it shares with the main thread (workerData).
 */
import { parentPort, workerData } from "node:worker_threads";
import { type ChunkMessage, runChunk, type SharedSlots } from "./binlog-file-chunks.ts";

const port = parentPort;
if (port === null) throw new Error("binlog-file-worker runs as a worker thread");
const slots = workerData as SharedSlots;

// loaded: chunks may come (until then the main thread renders them)
port.postMessage({ ready: true });
port.on("message", (m: ChunkMessage | null) => {
  // nothing more to do: the thread ends
  if (m === null) port.close();
  else port.postMessage({ id: m.id, ...runChunk(m, slots) });
});
