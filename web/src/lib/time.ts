// Times come as nanoseconds since the epoch (integers beyond 2^53: kept exact by
// dividing as bigint) and are shown in the browser's time zone.
export function nsToMs(ns: number | string | bigint): number {
  return Number(BigInt(typeof ns === "number" ? Math.trunc(ns) : ns) / 1_000_000n);
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

const clocks = new Map<number, string>();

/** HH:MM:SS in the browser's zone. A tape shows many trades of the same second, redrawn
 * many times: each second's text is formatted once. */
export function formatClock(ns: number | string): string {
  const second = Math.floor(nsToMs(ns) / 1000);
  let text = clocks.get(second);
  if (text === undefined) {
    text = clock.format(new Date(second * 1000));
    if (clocks.size >= 2_000) clocks.clear();
    clocks.set(second, text);
  }
  return text;
}

export function formatDateTime(ns: number | string): string {
  return dateTime.format(new Date(nsToMs(ns)));
}

/** A candle's axis label in a given zone (the browser's by default). */
export function candleLabel(epochSeconds: number, withDate: boolean, timeZone?: string): string {
  const options: Intl.DateTimeFormatOptions = withDate
    ? { month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }
    : { hour: "2-digit", minute: "2-digit", hour12: false };
  if (timeZone) options.timeZone = timeZone;
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(epochSeconds * 1000));
}

export const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"] as const;
export type Interval = (typeof INTERVALS)[number];
export const INTERVAL_SECONDS: Record<Interval, number> = {
  "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400,
};
