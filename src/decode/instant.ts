/**
 * ISO 8601 date-times → the canonical text PostgreSQL reads exactly. Pure.
 */

const INSTANT_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Parses an ISO 8601 date-time into a canonical string PostgreSQL reads
 * exactly (`YYYY-MM-DDTHH:MM:SS[.ffffff]±HH:MM`). No offset means UTC.
 * Returns `undefined` for anything that is not a real instant.
 */
export function parseInstant(input: string): string | undefined {
  const fast = parseCommonInstant(input);
  if (fast !== null) return fast;
  const m = INSTANT_RE.exec(input.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = "00", frac, z, sign, oh, om = "00"] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return undefined;
  let offset = "+00:00";
  if (!z && sign) {
    if (Number(oh) > 15 || Number(om) > 59) return undefined;
    offset = `${sign}${oh}:${om}`;
  }
  if (Number(s) === 60) {
    const offsetMinutes = sign ? (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om)) : 0;
    if (!isLeapSecond(Number(h), Number(mi), offsetMinutes)) return undefined;
    return `${y}-${mo}-${d}T${h}:${mi}:${LEAP_SECOND_STORED}${offset}`;
  }
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${frac ? `.${frac}` : ""}${offset}`;
}

/**
 * A leap second (`23:59:60Z`, valid ISO 8601) is stored as the last
 * microsecond before the next minute, `23:59:59.999999`: it stays in its
 * minute and day, before every reading of the next second (timestamptz has
 * no 61st second). Its fraction, if any, is dropped.
 */
const LEAP_SECOND_STORED = "59.999999";

/** True when second 60 of `hour:minute` (local, at `offsetMinutes` from UTC) is 23:59:60 UTC. */
function isLeapSecond(hour: number, minute: number, offsetMinutes: number): boolean {
  return (((hour * 60 + minute - offsetMinutes) % 1440) + 1440) % 1440 === 1439;
}

/** The two-digit number at `i`, or -1 when those are not two digits. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48, b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The shapes nearly every producer writes (`YYYY-MM-DDTHH:MM:SS`, optional
 * `.fraction`, optional `Z` or `±HH:MM`) without a regex or substrings: their
 * canonical form is the input itself with the offset made explicit.
 * Returns `null` for any other shape (then the general parser decides) and
 * `undefined` for a date or time out of range.
 */
function parseCommonInstant(s: string): string | undefined | null {
  const n = s.length;
  if (
    n < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 ||
    s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58
  ) return null;
  const century = twoDigits(s, 0), yy = twoDigits(s, 2), month = twoDigits(s, 5), day = twoDigits(s, 8);
  const hour = twoDigits(s, 11), minute = twoDigits(s, 14), second = twoDigits(s, 17);
  if ((century | yy | month | day | hour | minute | second) < 0) return null;
  let i = 19;
  if (i < n && s.charCodeAt(i) === 46) {
    let digits = 0;
    while (++i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) digits++;
    if (digits < 1 || digits > 9) return null;
  }
  let withOffset: string;
  let offsetMinutes = 0;
  if (i === n) withOffset = `${s}+00:00`;
  else if (i === n - 1 && s.charCodeAt(i) === 90) withOffset = `${s.slice(0, i)}+00:00`;
  else if (i === n - 6 && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45) && s.charCodeAt(i + 3) === 58) {
    const oh = twoDigits(s, i + 1), om = twoDigits(s, i + 4);
    if (oh < 0 || om < 0) return null;
    if (oh > 15 || om > 59) return undefined;
    withOffset = s;
    offsetMinutes = (s.charCodeAt(i) === 45 ? -1 : 1) * (oh * 60 + om);
  } else return null;
  const year = century * 100 + yy;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  if (second === 60) {
    if (!isLeapSecond(hour, minute, offsetMinutes)) return undefined;
    return `${s.slice(0, 17)}${LEAP_SECOND_STORED}${withOffset.slice(i)}`;
  }
  return withOffset;
}

const OFFSET_RE = /(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * Whether a date-time that {@link parseInstant} accepted names no UTC offset
 * (taken as UTC here; a writer that handed it to PostgreSQL as a naive time
 * had it read in the session's time zone).
 */
export function isNaiveInstant(accepted: string): boolean {
  return !OFFSET_RE.test(accepted.trim());
}
