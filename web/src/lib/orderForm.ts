// The order form's rules, before anything is sent: the tick and lot grids, the size
// limits, the minimum notional and the balance (the engine's hold, fees included), and
// the % of balance buttons, which round down to the lot so they never exceed it.
//
// The form's values are checked by a zod schema (orderSchema.ts): the shape by zod, the
// exchange's rules (which need the symbol, the balances and the book) by validateOrder.
import { Decimal, dec, floorToStep, isOnStep, parseDecimal } from "./decimal";
import type { SymbolInfo } from "./market";

export type Side = "buy" | "sell";
export type OrderKind = "limit" | "market" | "stop_limit" | "stop_market";
export type TimeInForce = "gtc" | "ioc" | "fok" | "gtd";
export type Stp = "cancel_newest" | "cancel_oldest" | "cancel_both" | "decrement_and_cancel";
/** What a market buy's size is given in: base quantity, or quote to spend. */
export type AmountIn = "base" | "quote";

export interface OrderDraft {
  side: Side;
  type: OrderKind;
  price: string;
  quantity: string;
  /** A market buy by quote amount: spend at most this much, fees included. */
  quoteQuantity: string;
  amountIn: AmountIn;
  stopPrice: string;
  displayQuantity: string;
  timeInForce: TimeInForce;
  expireAt: string; // datetime-local text, the browser's zone
  postOnly: boolean;
  stp: Stp;
  clientOrderId: string;
}

export const EMPTY_DRAFT: OrderDraft = {
  side: "buy", type: "limit", price: "", quantity: "", quoteQuantity: "", amountIn: "base", stopPrice: "", displayQuantity: "",
  timeInForce: "gtc", expireAt: "", postOnly: false, stp: "cancel_newest", clientOrderId: "",
};

export interface Market {
  bestBid?: string | undefined;
  bestAsk?: string | undefined;
}

export type Errors = Partial<Record<"price" | "quantity" | "quoteQuantity" | "stopPrice" | "displayQuantity" | "expireAt" | "clientOrderId" | "form", string>>;

export function hasPrice(type: OrderKind): boolean {
  return type === "limit" || type === "stop_limit";
}

/** A market buy sized by the quote to spend (``quote_quantity``), not by quantity. */
export function spendsQuote(d: Pick<OrderDraft, "type" | "side" | "amountIn">): boolean {
  return d.type === "market" && d.side === "buy" && d.amountIn === "quote";
}

/** ``fraction`` of the available quote, rounded down to the quote's minor unit: what a
 * market buy by amount may spend (the engine holds exactly that, fees included). */
export function quoteForFraction(fraction: Decimal, availableQuote: string, quoteDecimals: number): Decimal {
  return floorToStep(dec(availableQuote).mul(fraction), new Decimal(1).div(new Decimal(10).pow(quoteDecimals)));
}

export function isStop(type: OrderKind): boolean {
  return type === "stop_limit" || type === "stop_market";
}

/** The time-in-force choices the engine accepts for a type. */
export function tifChoices(type: OrderKind): TimeInForce[] {
  return hasPrice(type) ? ["gtc", "ioc", "fok", "gtd"] : ["ioc", "fok"];
}

function feeRate(s: SymbolInfo): Decimal {
  return Decimal.max(dec(s.maker_fee), dec(s.taker_fee), new Decimal(0));
}

function quoteStep(s: SymbolInfo, quoteDecimals: number): Decimal {
  void s;
  return new Decimal(1).div(new Decimal(10).pow(quoteDecimals));
}

/** What a buy of ``qty`` at ``price`` holds: notional plus the larger fee, the fee
 * rounded down to the quote's minor unit, the notional rounded up (as the engine). */
export function buyHold(s: SymbolInfo, price: Decimal, qty: Decimal, quoteDecimals: number): Decimal {
  const step = quoteStep(s, quoteDecimals);
  const notional = price.mul(qty).div(step).ceil().mul(step);
  const fee = notional.mul(feeRate(s)).div(step).floor().mul(step);
  return notional.plus(fee);
}

/** The price a market buy is capped at: the protection band above the best ask. */
export function marketBuyCap(s: SymbolInfo, bestAsk: string): Decimal {
  const tick = dec(s.tick_size);
  const ticks = dec(bestAsk).div(tick);
  return ticks.mul(10000 + s.market_protection_bps).div(10000).floor().mul(tick);
}

/** The largest quantity (a whole number of lots) that ``fraction`` of the balance pays
 * for: base for a sell, quote (with the fee) at ``price`` for a buy. Never more than
 * the balance, never more than the symbol's maximum. */
export function quantityForFraction(
  s: SymbolInfo, side: Side, fraction: Decimal, availableBase: string, availableQuote: string,
  price: Decimal | null, quoteDecimals: number,
): Decimal {
  const lot = dec(s.lot_size);
  const max = dec(s.max_quantity);
  if (side === "sell") {
    return Decimal.min(floorToStep(dec(availableBase).mul(fraction), lot), max);
  }
  if (price === null || price.lte(0)) return new Decimal(0);
  const budget = dec(availableQuote).mul(fraction);
  let qty = floorToStep(budget.div(price.mul(new Decimal(1).plus(feeRate(s)))), lot);
  qty = Decimal.min(qty, max);
  // the rounding of the notional and the fee may still exceed the budget by a unit
  while (qty.gt(0) && buyHold(s, price, qty, quoteDecimals).gt(budget)) qty = qty.minus(lot);
  return qty;
}

/** The price a draft is valued at: its limit price, or the market cap for a market buy. */
export function valuationPrice(s: SymbolInfo, d: OrderDraft, m: Market): Decimal | null {
  if (hasPrice(d.type)) return parseDecimal(d.price);
  if (d.type === "stop_market") {
    const stop = parseDecimal(d.stopPrice);
    return stop === null ? null : d.side === "buy" ? marketBuyCap(s, stop.toFixed()) : stop;
  }
  if (d.side === "buy") return m.bestAsk ? marketBuyCap(s, m.bestAsk) : null;
  return m.bestBid ? dec(m.bestBid) : null;
}

export function validateOrder(
  s: SymbolInfo, d: OrderDraft, m: Market, availableBase: string, availableQuote: string,
  quoteDecimals: number, nowMs: number = Date.now(),
): Errors {
  const errors: Errors = {};
  const tick = dec(s.tick_size);
  const lot = dec(s.lot_size);
  const checkPrice = (text: string, field: "price" | "stopPrice", name: string) => {
    const value = parseDecimal(text);
    if (text.trim() === "") errors[field] = `Enter a ${name}.`;
    else if (value === null) errors[field] = `The ${name} must be a plain decimal number.`;
    else if (value.lte(0)) errors[field] = `The ${name} must be above zero.`;
    else if (!isOnStep(value, tick)) errors[field] = `The ${name} must be a multiple of the tick ${s.tick_size}.`;
    return errors[field] === undefined ? value : null;
  };
  const price = hasPrice(d.type) ? checkPrice(d.price, "price", "price") : null;
  if (isStop(d.type)) checkPrice(d.stopPrice, "stopPrice", "stop price");

  if (spendsQuote(d)) {
    const amount = parseDecimal(d.quoteQuantity);
    const step = new Decimal(1).div(new Decimal(10).pow(quoteDecimals));
    if (d.quoteQuantity.trim() === "") errors.quoteQuantity = `Enter the ${s.quote} amount to spend.`;
    else if (amount === null) errors.quoteQuantity = "The amount must be a plain decimal number.";
    else if (amount.lte(0)) errors.quoteQuantity = "The amount must be above zero.";
    else if (!isOnStep(amount, step)) errors.quoteQuantity = `The amount has at most ${quoteDecimals} decimals.`;
    else if (amount.lt(s.min_notional)) errors.quoteQuantity = `The amount is below the minimum notional ${s.min_notional} ${s.quote}.`;
    else if (amount.gt(availableQuote)) errors.quoteQuantity = `Insufficient ${s.quote}: ${availableQuote} available.`;
    else if (!m.bestAsk) errors.quoteQuantity = "There is no opposite order to trade with.";
    if (!tifChoices(d.type).includes(d.timeInForce))
      errors.form = `A market order takes ${tifChoices(d.type).map((t) => t.toUpperCase()).join(" or ")}.`;
    if (d.clientOrderId && !/^[\x20-\x7e]{1,64}$/.test(d.clientOrderId))
      errors.clientOrderId = "At most 64 printable characters.";
    return errors;
  }

  const qty = parseDecimal(d.quantity);
  if (d.quantity.trim() === "") errors.quantity = "Enter a quantity.";
  else if (qty === null) errors.quantity = "The quantity must be a plain decimal number.";
  else if (qty.lte(0)) errors.quantity = "The quantity must be above zero.";
  else if (!isOnStep(qty, lot)) errors.quantity = `The quantity must be a multiple of the lot ${s.lot_size}.`;
  else if (qty.lt(s.min_quantity)) errors.quantity = `The quantity is below the minimum ${s.min_quantity}.`;
  else if (qty.gt(s.max_quantity)) errors.quantity = `The quantity is above the maximum ${s.max_quantity}.`;

  if (d.displayQuantity.trim() !== "") {
    const display = parseDecimal(d.displayQuantity);
    if (!hasPrice(d.type) || !(d.timeInForce === "gtc" || d.timeInForce === "gtd"))
      errors.displayQuantity = "An iceberg is a GTC or GTD limit order.";
    else if (display === null || display.lte(0) || !isOnStep(display, lot))
      errors.displayQuantity = `The display quantity must be a positive multiple of the lot ${s.lot_size}.`;
    else if (qty !== null && display.gte(qty))
      errors.displayQuantity = "The display quantity must be below the quantity.";
  }
  if (d.postOnly && !(d.type === "limit" && (d.timeInForce === "gtc" || d.timeInForce === "gtd")))
    errors.form = "Post-only is for GTC or GTD limit orders.";
  if (!tifChoices(d.type).includes(d.timeInForce))
    errors.form = `A ${d.type.replace("_", "-")} order takes ${tifChoices(d.type).map((t) => t.toUpperCase()).join(" or ")}.`;
  if (d.timeInForce === "gtd") {
    const at = Date.parse(d.expireAt);
    if (!d.expireAt || Number.isNaN(at)) errors.expireAt = "Choose when the order expires.";
    else if (at <= nowMs) errors.expireAt = "The expiry must be in the future.";
  }
  if (d.clientOrderId && !/^[\x20-\x7e]{1,64}$/.test(d.clientOrderId))
    errors.clientOrderId = "At most 64 printable characters.";

  if (errors.quantity === undefined && qty !== null) {
    const at = price ?? valuationPrice(s, d, m);
    if (at !== null && hasPrice(d.type) && at.mul(qty).lt(s.min_notional))
      errors.quantity = `The order's value is below the minimum notional ${s.min_notional} ${s.quote}.`;
    else if (d.side === "sell" && qty.gt(availableBase))
      errors.quantity = `Insufficient ${s.base}: ${availableBase} available.`;
    else if (d.side === "buy" && at !== null && buyHold(s, at, qty, quoteDecimals).gt(availableQuote))
      errors.quantity = `Insufficient ${s.quote}: ${availableQuote} available (fees included).`;
    else if (d.type === "market" && at === null)
      errors.quantity = "There is no opposite order to trade with.";
  }
  return errors;
}

/** The request body of POST /api/v1/orders for a valid draft. */
export function orderBody(symbol: string, d: OrderDraft): Record<string, unknown> {
  const body: Record<string, unknown> = {
    symbol, side: d.side, type: d.type, time_in_force: d.timeInForce, self_trade_prevention: d.stp,
  };
  if (spendsQuote(d)) body.quote_quantity = d.quoteQuantity.trim();
  else body.quantity = d.quantity.trim();
  if (hasPrice(d.type)) body.price = d.price.trim();
  if (isStop(d.type)) body.stop_price = d.stopPrice.trim();
  if (d.displayQuantity.trim()) body.display_quantity = d.displayQuantity.trim();
  if (d.postOnly) body.post_only = true;
  if (d.clientOrderId) body.client_order_id = d.clientOrderId;
  if (d.timeInForce === "gtd") body.expire_time_ns = (BigInt(Date.parse(d.expireAt)) * 1_000_000n).toString();
  return body;
}

