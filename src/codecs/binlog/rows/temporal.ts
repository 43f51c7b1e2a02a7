/**
 * Temporal column formats, printed as the server prints them for SELECT with time_zone '+00:00' and
 * exactly the column's fraction digits.
 *   DATE       3 bytes LE: day 5 bits | month 4 bits | year 15 bits
 *   TIME       3 bytes LE signed HHMMSS as a decimal number (pre-5.6 format)
 *   TIME2      3 bytes BE + 0..3 fraction bytes, offset binary (MySQL 5.6 / MariaDB mysql56 format)
 *   DATETIME   8 bytes LE YYYYMMDDhhmmss as a decimal number (pre-5.6 format)
 *   DATETIME2  5 bytes BE + 0..3 fraction bytes: sign 1 | year*13+month 17 | day 5 | h 5 | m 6 | s 6
 *   TIMESTAMP  4 bytes LE unix seconds;  TIMESTAMP2 4 bytes BE seconds + 0..3 fraction bytes
 * Fraction bytes for fsp 1-2: 1 byte (x10000 us), 3-4: 2 bytes (x100 us), 5-6: 3 bytes (us), signed BE.
 */

export function fractionBytes(fsp: number): number {
  return (fsp + 1) >> 1;
}

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function p4(n: number): string {
  return String(n).padStart(4, "0");
}

function fraction(usec: number, fsp: number): string {
  if (fsp <= 0) return "";
  return `.${String(usec).padStart(6, "0").slice(0, fsp)}`;
}

/** Signed big-endian integer of `n` (1..3) bytes. */
function readIntBE(buf: Buffer, pos: number, n: number): number {
  return buf.readIntBE(pos, n);
}

function readFraction(buf: Buffer, pos: number, fsp: number): number {
  switch (fractionBytes(fsp)) {
    case 1:
      return readIntBE(buf, pos, 1) * 10000;
    case 2:
      return readIntBE(buf, pos, 2) * 100;
    case 3:
      return readIntBE(buf, pos, 3);
    default:
      return 0;
  }
}

export function formatDate(v: number): string {
  const day = v & 31;
  const month = (v >> 5) & 15;
  const year = v >>> 9;
  return `${p4(year)}-${p2(month)}-${p2(day)}`;
}

export function decodeDate(buf: Buffer, pos: number): string {
  return formatDate(buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16));
}

export function decodeTimeOld(buf: Buffer, pos: number): string {
  const v = buf.readIntLE(pos, 3);
  const a = Math.abs(v);
  const h = Math.floor(a / 10000);
  return `${v < 0 ? "-" : ""}${p2(h)}:${p2(Math.floor(a / 100) % 100)}:${p2(a % 100)}`;
}

const TIMEF_INT_OFS = 0x800000;
const TIMEF_OFS = 0x800000000000;

export function time2Size(fsp: number): number {
  return 3 + fractionBytes(fsp);
}

/** TIME2 -> "[-]HH:MM:SS[.ffffff]" (hours may exceed 24, up to 838). */
export function decodeTime2(buf: Buffer, pos: number, fsp: number): string {
  let packed: number; // (intpart * 2^24 + frac), signed
  const fb = fractionBytes(fsp);
  if (fb === 3) {
    packed = buf.readUIntBE(pos, 6) - TIMEF_OFS;
  } else {
    let intpart = buf.readUIntBE(pos, 3) - TIMEF_INT_OFS;
    let frac = 0;
    if (fb === 1) {
      frac = buf[pos + 3]!;
      if (intpart < 0 && frac) {
        intpart++;
        frac -= 0x100;
      }
      frac *= 10000;
    } else if (fb === 2) {
      frac = buf.readUInt16BE(pos + 3);
      if (intpart < 0 && frac) {
        intpart++;
        frac -= 0x10000;
      }
      frac *= 100;
    }
    packed = intpart * 0x1000000 + frac;
  }
  const negative = packed < 0;
  const a = Math.abs(packed);
  const hms = Math.floor(a / 0x1000000);
  const usec = a % 0x1000000;
  const hour = (hms >> 12) % 1024;
  const minute = (hms >> 6) % 64;
  const second = hms % 64;
  return `${negative ? "-" : ""}${p2(hour)}:${p2(minute)}:${p2(second)}${fraction(usec, fsp)}`;
}

export function decodeDatetimeOld(buf: Buffer, pos: number): string {
  const v = buf.readBigUInt64LE(pos);
  const d = Number(v / 1000000n);
  const t = Number(v % 1000000n);
  return `${p4(Math.floor(d / 10000))}-${p2(Math.floor(d / 100) % 100)}-${p2(d % 100)} ${p2(Math.floor(t / 10000))}:${p2(Math.floor(t / 100) % 100)}:${p2(t % 100)}`;
}

const DATETIMEF_INT_OFS = 0x8000000000;

export function datetime2Size(fsp: number): number {
  return 5 + fractionBytes(fsp);
}

export function decodeDatetime2(buf: Buffer, pos: number, fsp: number): string {
  const intpart = buf.readUIntBE(pos, 5) - DATETIMEF_INT_OFS;
  const usec = readFraction(buf, pos + 5, fsp);
  const a = Math.abs(intpart);
  const ymd = Math.floor(a / 0x20000);
  const hms = a % 0x20000;
  const ym = ymd >> 5;
  const day = ymd % 32;
  const month = ym % 13;
  const year = Math.floor(ym / 13);
  const sec = hms % 64;
  const min = (hms >> 6) % 64;
  const hour = hms >> 12;
  return `${intpart < 0 ? "-" : ""}${p4(year)}-${p2(month)}-${p2(day)} ${p2(hour)}:${p2(min)}:${p2(sec)}${fraction(Math.abs(usec), fsp)}`;
}

/** Unix seconds (UTC) -> "YYYY-MM-DD HH:MM:SS"; 0 is the zero timestamp. */
export function formatUnixSeconds(sec: number, usec: number, fsp: number): string {
  if (sec === 0 && usec === 0) return `0000-00-00 00:00:00${fraction(0, fsp)}`;
  const days = Math.floor(sec / 86400);
  const rem = sec - days * 86400;
  // Civil-from-days (Howard Hinnant), exact for the TIMESTAMP range.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const hh = Math.floor(rem / 3600);
  const mm = Math.floor(rem / 60) % 60;
  const ss = rem % 60;
  return `${p4(y)}-${p2(m)}-${p2(d)} ${p2(hh)}:${p2(mm)}:${p2(ss)}${fraction(usec, fsp)}`;
}

export function decodeTimestampOld(buf: Buffer, pos: number): string {
  return formatUnixSeconds(buf.readUInt32LE(pos), 0, 0);
}

export function timestamp2Size(fsp: number): number {
  return 4 + fractionBytes(fsp);
}

export function decodeTimestamp2(buf: Buffer, pos: number, fsp: number): string {
  const sec = buf.readUInt32BE(pos);
  const fb = fractionBytes(fsp);
  const usec =
    fb === 1
      ? buf[pos + 4]! * 10000
      : fb === 2
        ? buf.readUInt16BE(pos + 4) * 100
        : fb === 3
          ? buf.readUIntBE(pos + 4, 3)
          : 0;
  return formatUnixSeconds(sec, usec, fsp);
}

/*
 * MariaDB's own fractional-second formats (MariaDB 5.3 - 10.1.1, and later servers running with
 * mysql56_temporal_format=OFF). They are logged with the old type codes (TIME, DATETIME, TIMESTAMP)
 * and no metadata, so the precision must come from the schema (DATETIME_PRECISION).
 *   TIME(n)      big-endian (pack_time / 10^(6-n)) + 3020400 * 10^n, in time_hires_bytes[n] bytes
 *   DATETIME(n)  big-endian pack_time / 10^(6-n) in datetime_hires_bytes[n] bytes
 *   TIMESTAMP(n) 4 bytes BE seconds + BE fraction / 10^(6-n) in sec_part_bytes[n] bytes
 * pack_time = ((((((year*13 + month)*32 + day)*24 + hour)*60 + minute)*60 + second)*10^6 + usec
 */
// Bytes for the largest value at each precision (838:59:59 and 9999-12-31 23:59:59 times 10^n).
const TIME_HIRES_BYTES = [3, 4, 4, 5, 5, 5, 6] as const;
const DATETIME_HIRES_BYTES = [5, 6, 6, 7, 7, 7, 8] as const;
const SEC_PART_BYTES = [0, 1, 1, 2, 2, 3, 3] as const;

export function mariadbHiresSize(kind: "time" | "datetime" | "timestamp", dec: number): number {
  if (kind === "time") return TIME_HIRES_BYTES[dec] ?? 6;
  if (kind === "datetime") return DATETIME_HIRES_BYTES[dec] ?? 8;
  return 4 + (SEC_PART_BYTES[dec] ?? 3);
}

export function decodeMariadbTimeHires(buf: Buffer, pos: number, dec: number): string {
  const n = mariadbHiresSize("time", dec);
  const scale = 10 ** (6 - dec);
  const packed = (buf.readUIntBE(pos, n) - 3020400 * 10 ** dec) * scale;
  const a = Math.abs(packed);
  const usec = a % 1000000;
  const secs = Math.floor(a / 1000000);
  return `${packed < 0 ? "-" : ""}${p2(Math.floor(secs / 3600))}:${p2(Math.floor(secs / 60) % 60)}:${p2(secs % 60)}${fraction(usec, dec)}`;
}

export function decodeMariadbDatetimeHires(buf: Buffer, pos: number, dec: number): string {
  const n = mariadbHiresSize("datetime", dec);
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[pos + i]!);
  v *= 10n ** BigInt(6 - dec);
  const usec = Number(v % 1000000n);
  let rest = v / 1000000n;
  const sec = Number(rest % 60n);
  rest /= 60n;
  const min = Number(rest % 60n);
  rest /= 60n;
  const hour = Number(rest % 24n);
  rest /= 24n;
  const day = Number(rest % 32n);
  rest /= 32n;
  const month = Number(rest % 13n);
  const year = Number(rest / 13n);
  return `${p4(year)}-${p2(month)}-${p2(day)} ${p2(hour)}:${p2(min)}:${p2(sec)}${fraction(usec, dec)}`;
}

export function decodeMariadbTimestampHires(buf: Buffer, pos: number, dec: number): string {
  const sec = buf.readUInt32BE(pos);
  const fb = SEC_PART_BYTES[dec] ?? 3;
  const usec = fb === 0 ? 0 : buf.readUIntBE(pos + 4, fb) * 10 ** (6 - dec);
  return formatUnixSeconds(sec, usec, dec);
}
