// Every amount in the UI is a decimal string or a Decimal: never a JS number, and never
// printed in exponent form (toExpNeg/toExpPos far out, and toFixed everywhere).
import Decimal from "decimal.js";

Decimal.set({ precision: 64, rounding: Decimal.ROUND_DOWN, toExpNeg: -100, toExpPos: 100 });

export { Decimal };
export type DecimalLike = Decimal | string;

const DECIMAL_TEXT = /^\s*(\d{1,30}(\.\d{0,30})?|\.\d{1,30})\s*$/;

/** A strictly parsed non-negative decimal, or null (no exponents, signs, commas). */
export function parseDecimal(text: string): Decimal | null {
  if (!DECIMAL_TEXT.test(text)) return null;
  return new Decimal(text.trim());
}

export function dec(value: DecimalLike): Decimal {
  return value instanceof Decimal ? value : new Decimal(value);
}

/** The number of decimals of a step such as "0.0001" (4) or "1" (0). */
export function decimalsOf(step: string): number {
  const dot = step.indexOf(".");
  return dot < 0 ? 0 : step.length - dot - 1;
}

const formatted = new Map<string, string>();

/** Fixed decimals, plain notation, optional thousands separators. A streamed screen
 * formats the same few hundred strings again and again: their texts are remembered. */
export function formatFixed(value: DecimalLike, decimals: number, group = false): string {
  if (typeof value !== "string") return formatDecimal(value, decimals, group);
  const key = `${value}|${decimals}|${group ? 1 : 0}`;
  let text = formatted.get(key);
  if (text === undefined) {
    text = formatDecimal(value, decimals, group);
    if (formatted.size >= 5_000) formatted.clear(); // bounded over a long session
    formatted.set(key, text);
  }
  return text;
}

function formatDecimal(value: DecimalLike, decimals: number, group: boolean): string {
  const text = dec(value).toFixed(decimals, Decimal.ROUND_DOWN);
  if (!group) return text;
  const negative = text.startsWith("-");
  const body = negative ? text.slice(1) : text;
  const [whole = "0", fraction] = body.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (negative ? "-" : "") + grouped + (fraction !== undefined ? "." + fraction : "");
}

/** Round down to a multiple of ``step`` (a lot or a tick). */
export function floorToStep(value: DecimalLike, step: DecimalLike): Decimal {
  const s = dec(step);
  return dec(value).div(s).floor().mul(s);
}

export function ceilToStep(value: DecimalLike, step: DecimalLike): Decimal {
  const s = dec(step);
  return dec(value).div(s).ceil().mul(s);
}

export function isOnStep(value: DecimalLike, step: DecimalLike): boolean {
  return dec(value).mod(dec(step)).isZero();
}

/** A sort key for decimal strings of one symbol (same decimals): exact, as a bigint. */
export function priceKey(price: string): bigint {
  const [whole = "0", fraction = ""] = price.split(".");
  return BigInt(whole + fraction);
}

/** 100 * (a - b) / b with two decimals, or null when b is zero. */
export function percentChange(a: DecimalLike, b: DecimalLike): string | null {
  const base = dec(b);
  if (base.isZero()) return null;
  return dec(a).minus(base).div(base).mul(100).toFixed(2, Decimal.ROUND_HALF_EVEN);
}
