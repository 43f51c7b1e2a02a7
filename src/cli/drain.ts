/**
 * Resolves when `out` can take more (drain), or can take nothing at all any more (close, error): a
 * slow reader holds the writer back, a gone reader does not hang it.
 */
export function writable(out: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      out.off("error", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    out.on("error", done);
  });
}
