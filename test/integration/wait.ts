// Waiting in integration tests for something a server or a child process does in its own time.

/**
 * How long `waitFor` polls before failing. A hang detector, never a timing check: it is sized for a
 * loaded two-core machine running two test files at once, where starting a child CLI from the
 * TypeScript sources alone can take many seconds.
 */
export const WAIT_LIMIT_MS = 120_000;

/**
 * Polls `check` every `everyMs` until it returns something other than undefined or false, and returns
 * that. After `limitMs` it fails, naming `what` and, with `detail`, what the child said meanwhile.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { everyMs?: number; limitMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.limitMs ?? WAIT_LIMIT_MS);
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`${what} never happened${opts.detail ? `; ${opts.detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 50));
  }
}
