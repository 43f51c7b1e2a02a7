import { type FileHandle, open } from "node:fs/promises";
import { envelopeToJsonLine } from "../cdc/envelope.ts";
import type { ChangeChunk, ChangeSink } from "./types.ts";

/**
 * Change envelopes as JSON lines, one per row change, to stdout or appended to a file. Replays after a
 * crash repeat lines; `(source.file, source.offset, source.row)` identifies duplicates.
 */
export class JsonLinesSink implements ChangeSink {
  readonly kind = "jsonl";
  private constructor(
    private readonly file: FileHandle | undefined,
    private readonly out: NodeJS.WritableStream,
  ) {}

  /** `-` or undefined = stdout; anything else a file path (appended). */
  static async open(
    target: string | undefined,
    stdout: NodeJS.WritableStream = process.stdout,
  ): Promise<JsonLinesSink> {
    if (target === undefined || target === "-") return new JsonLinesSink(undefined, stdout);
    const fh = await open(target, "a");
    return new JsonLinesSink(fh, stdout);
  }

  async write(chunk: ChangeChunk): Promise<void> {
    let text = "";
    for (const e of chunk.changes) text += `${envelopeToJsonLine(e)}\n`;
    if (this.file) await this.file.write(text);
    else if (!this.out.write(text))
      await new Promise<void>((resolve) => this.out.once("drain", () => resolve()));
  }

  async flush(): Promise<void> {
    if (this.file) await this.file.sync();
  }

  async close(): Promise<void> {
    if (this.file) {
      await this.file.sync();
      await this.file.close();
    }
  }
}
