/**
 * Every failure Sluice reports carries a stable code, what happened, where (file/offset, session,
 * URL without secrets) and what to do about it. The CLI prints these; libraries throw them.
 */
export type ErrorContext = Record<string, string | number | bigint | boolean | undefined>;

export interface SluiceErrorOptions {
  /** Where it happened: file, offset, session, key, URL (without secrets). */
  context?: ErrorContext;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class SluiceError extends Error {
  readonly code: string;
  readonly context: ErrorContext;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SluiceError";
    this.code = code;
    this.context = options.context ?? {};
    this.hint = options.hint;
  }

  /** One line for people: `code: message (file=x offset=y) - hint`. */
  describe(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ");
    return `${this.code}: ${this.message}${where ? ` (${where})` : ""}${this.hint ? `\n  hint: ${this.hint}` : ""}`;
  }

  toJSON(): Record<string, unknown> {
    const context: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.context)) {
      if (v !== undefined) context[k] = typeof v === "bigint" ? v.toString() : v;
    }
    return { code: this.code, message: this.message, context, hint: this.hint };
  }
}

export function isSluiceError(e: unknown): e is SluiceError {
  return e instanceof SluiceError;
}

/** The message of any thrown value, for wrapping foreign errors. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
