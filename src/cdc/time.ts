import { SluiceError } from "../core/errors.ts";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90s`, `5m`, `1h30m`, `2d`, or plain seconds -> seconds. */
export function parseDuration(text: string, what = "duration"): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)([smhdw])/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  for (;;) {
    m = re.exec(t);
    if (!m) break;
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== t.length)
    throw new SluiceError("USAGE_DURATION", `${what} '${text}' is not a duration`, {
      hint: "e.g. 90s, 5m, 1h30m, 2d",
    });
  return total;
}

/**
 * A point in time as users write it -> unix seconds: an ISO date/time (`2026-11-22T10:00:00Z`,
 * `2026-11-22 10:00`), unix seconds, or a duration meaning that long ago (`1h`).
 */
export function parseTimePoint(text: string, nowSeconds: number, what = "time"): number {
  const t = text.trim();
  if (/^\d{9,}$/.test(t)) return Number(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t.includes("T") || t.length === 10 ? t : t.replace(" ", "T"));
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  }
  try {
    return nowSeconds - parseDuration(t, what);
  } catch {
    throw new SluiceError("USAGE_TIME", `${what} '${text}' is not a time`, {
      hint: "an ISO time (2026-11-22T10:00:00Z), unix seconds, or how long ago (1h, 30m)",
    });
  }
}
