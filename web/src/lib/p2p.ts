// P2P escrow desk: the views the server answers (amounts as decimal strings, times as
// ISO 8601 UTC, states as lower-case words) and the pure logic of the pages: which
// buttons a trade shows, the step it is at, the countdown to its deadlines, the fiat
// amount of a quantity and the validation of the ad and take forms. Money is never a JS
// number: decimal strings in, Decimal arithmetic, decimal strings out.
import { Decimal, dec, parseDecimal } from "./decimal";
import type { components } from "../api/schema";

type Schemas = components["schemas"];

// the views are the server's (generated from its OpenAPI by `npm run api:gen`)
export type AdView = Schemas["P2PAd"];
export type TradeView = Schemas["P2PTrade"];
export type TradeDetail = Schemas["P2PTradeDetail"];
export type TradeMessage = Schemas["P2PMessage"];
export type Notification = Schemas["Notification"];
export type PaymentMethod = Schemas["PaymentMethod"];
export type MakerStats = Schemas["P2PStats"];
export type Transition = Schemas["P2PTransition"];
export type P2PSide = AdView["side"];
export type AdState = AdView["state"];
export type TradeState = TradeView["state"];
export type TradeRole = TradeView["my_role"];
export type TradeAction = TradeView["allowed_actions"][number];
export type DisputeReason = Schemas["DisputeBody"]["reason"];

export const TRADE_STATES: readonly TradeState[] = [
  "pending_payment", "paid", "disputed", "completed", "cancelled", "expired", "resolved_release", "resolved_refund",
];
export const TERMINAL_STATES: ReadonlySet<TradeState> = new Set([
  "completed", "cancelled", "expired", "resolved_release", "resolved_refund",
]);

export const DISPUTE_REASONS: readonly [DisputeReason, string][] = [
  ["payment_not_received", "I paid but the seller does not release"],
  ["payment_not_confirmed", "The buyer says they paid but the money has not arrived"],
  ["wrong_amount", "The amount paid is wrong"],
  ["unresponsive", "The other side does not answer"],
  ["fraud", "Suspected fraud"],
  ["other", "Something else"],
];

// -- words ------------------------------------------------------------------------------

export const STATE_LABEL: Record<TradeState, string> = {
  pending_payment: "Waiting for payment",
  paid: "Paid: waiting for release",
  disputed: "In dispute",
  completed: "Completed",
  cancelled: "Cancelled",
  expired: "Expired",
  resolved_release: "Resolved: released to the buyer",
  resolved_refund: "Resolved: refunded to the seller",
};

/** The three steps of a trade shown at the top of the room, and where the trade is. */
export const STEPS = ["Buyer pays", "Seller confirms and releases", "Done"] as const;

export function stepOf(state: TradeState): number {
  if (state === "pending_payment") return 0;
  if (state === "paid" || state === "disputed") return 1;
  return 2;
}

// -- buttons ----------------------------------------------------------------------------

export interface ActionButton {
  action: TradeAction;
  label: string;
  /** A warning shown with a checkbox the user must tick before the button works. */
  confirm: string | null;
  tone: "buy" | "sell" | "plain";
}

export const NEVER_CANCEL_AFTER_PAYING =
  "Never cancel after paying: if you already sent the money, cancelling returns the asset to the seller and your payment is not protected. Tick only if you did NOT pay or the seller refunded you.";
export const RELEASE_ONLY_AFTER_MONEY =
  "Only release after the money arrived in your account: check your bank yourself, never trust a screenshot or a message. A release cannot be undone.";
export const MARK_PAID_ONLY_AFTER_SENDING =
  "Mark paid only after you sent the exact fiat amount from an account in your own name.";

/** The buttons a trade shows: exactly the actions the server allows the caller now
 * (``allowed_actions``), in a fixed order, each with its warning. An action the server
 * names but the state cannot have (a stale or inconsistent view) is left out. */
export function tradeButtons(view: Pick<TradeView, "state" | "allowed_actions" | "my_role">): ActionButton[] {
  const allowed = new Set(view.allowed_actions);
  const possible: Record<TradeAction, ReadonlySet<TradeState>> = {
    paid: new Set(["pending_payment"]),
    release: new Set(["paid", "disputed"]),
    cancel: new Set(["pending_payment", "paid"]),
    dispute: new Set(["paid"]),
    "withdraw-dispute": new Set(["disputed"]),
    resolve: new Set(["disputed"]),
  };
  const out: ActionButton[] = [];
  const add = (action: TradeAction, label: string, confirm: string | null, tone: ActionButton["tone"]) => {
    if (allowed.has(action) && possible[action].has(view.state)) out.push({ action, label, confirm, tone });
  };
  add("paid", "I have paid", MARK_PAID_ONLY_AFTER_SENDING, "buy");
  add("release", "Release the asset", RELEASE_ONLY_AFTER_MONEY, "buy");
  add("cancel", "Cancel the trade", view.state === "paid" ? NEVER_CANCEL_AFTER_PAYING : null, "sell");
  add("withdraw-dispute", "Withdraw the dispute", null, "plain");
  // the dispute and resolve forms are their own panels (reason and text, outcome and note)
  return out;
}

export function canDispute(view: Pick<TradeView, "state" | "allowed_actions">): boolean {
  return view.state === "paid" && view.allowed_actions.includes("dispute");
}

export function canResolve(view: Pick<TradeView, "state" | "allowed_actions">): boolean {
  return view.state === "disputed" && view.allowed_actions.includes("resolve");
}

/** The body of a trade action: always the state the page shows (a 409 if the trade
 * moved meanwhile) and an idempotency key, so a double click or a retry acts once. */
export function actionBody<T extends object = object>(view: Pick<TradeView, "state">, key: string, extra?: T):
  { expected_state: TradeState; idempotency_key: string } & T {
  return { expected_state: view.state, idempotency_key: key, ...(extra ?? ({} as T)) };
}

// -- chat -------------------------------------------------------------------------------

const messageKey = (m: TradeMessage) => `${m.seq}:${m.message_id ?? ""}:${m.text}`;

/** The chat after a refetch: what the server's read model answered, plus the lines the
 * page already holds (sent, or pushed by the stream) that the read model has not caught
 * up with yet (a later seq); each line once, in sequence order. */
export function mergeMessages(fetched: readonly TradeMessage[], held: readonly TradeMessage[]): TradeMessage[] {
  const last = fetched.reduce((m, x) => Math.max(m, x.seq), -1);
  const seen = new Set(fetched.map(messageKey));
  const newer = held.filter((m) => m.seq > last && !seen.has(messageKey(m)));
  return [...fetched, ...newer].sort((a, b) => a.seq - b.seq);
}

/** A chat line appended once (a repeat of the same line is ignored). */
export function addMessage(held: readonly TradeMessage[], line: TradeMessage): TradeMessage[] {
  const key = messageKey(line);
  return held.some((m) => messageKey(m) === key) ? [...held] : [...held, line].sort((a, b) => a.seq - b.seq);
}

// -- time -------------------------------------------------------------------------------

/** Milliseconds since the epoch of an ISO 8601 time, or null. */
export function isoMs(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** Milliseconds left until ``deadline``, from the server's clock: the distance between
 * the deadline and the server's ``now`` when the view was received, less the time the
 * page has waited since (measured on a monotonic clock). The browser's own wall clock
 * never enters, so a wrong PC clock shows the right countdown. Never below zero. */
export function remainingMs(deadline: string | null | undefined, serverNow: string, receivedAt: number, monotonicNow: number): number | null {
  const d = isoMs(deadline);
  const n = isoMs(serverNow);
  if (d === null || n === null) return null;
  return Math.max(0, d - n - Math.max(0, monotonicNow - receivedAt));
}

/** "mm:ss", or "h:mm:ss" from an hour up. */
export function formatCountdown(ms: number): string {
  const total = Math.floor(Math.max(0, ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** The deadline the room counts down to in a state, with what happens when it passes. */
export function activeDeadline(view: Pick<TradeView, "state" | "pay_by" | "appeal_after" | "escalate_at" | "now">):
  { at: string; label: string } | null {
  if (view.state === "pending_payment" && view.pay_by) return { at: view.pay_by, label: "Time left to pay" };
  if (view.state === "paid") {
    const appeal = isoMs(view.appeal_after);
    const now = isoMs(view.now);
    if (view.appeal_after && appeal !== null && now !== null && now < appeal) return { at: view.appeal_after, label: "A dispute can be opened in" };
    if (view.escalate_at) return { at: view.escalate_at, label: "Goes to an admin automatically in" };
  }
  return null;
}

// -- amounts ----------------------------------------------------------------------------

/** The fiat amount of ``quantity`` at ``price`` (fiat per whole unit), rounded half up
 * to the fiat's decimals, as the core computes it. */
export function fiatAmount(quantity: string, price: string, fiatDecimals: number): string {
  return dec(quantity).mul(dec(price)).toDecimalPlaces(fiatDecimals, Decimal.ROUND_HALF_UP).toFixed(fiatDecimals);
}

/** A margin price over a mid, rounded half up to the fiat's decimals (an estimate: the
 * server freezes the real one at take, from its own book). */
export function marginPrice(mid: string, marginBps: number, fiatDecimals: number): string {
  return dec(mid).mul(new Decimal(10000 + marginBps)).div(10000).toDecimalPlaces(fiatDecimals, Decimal.ROUND_HALF_UP).toFixed(fiatDecimals);
}

/** "+1.50%" / "-0.25%" for a margin in basis points. */
export function formatMargin(bps: number): string {
  const pct = new Decimal(Math.abs(bps)).div(100).toFixed(2);
  return `${bps < 0 ? "-" : "+"}${pct}%`;
}

function hasAtMostDecimals(value: Decimal, decimals: number): boolean {
  return value.decimalPlaces() <= decimals;
}

/** A positive amount within ``decimals``, or a sentence. */
export function checkAmount(text: string, decimals: number, what: string): { value: Decimal } | { error: string } {
  const value = parseDecimal(text);
  if (value === null || value.lte(0)) return { error: `Enter a positive ${what}.` };
  if (!hasAtMostDecimals(value, decimals)) return { error: `The ${what} has at most ${decimals} decimals.` };
  return { value };
}

export interface AdDraft {
  side: P2PSide;
  asset: string;
  fiat: string;
  priceMode: "fixed" | "margin";
  price: string;
  marginPct: string; // percent, may be negative, e.g. "-1.5"
  priceSymbol: string;
  quantity: string;
  minQuantity: string;
  maxQuantity: string;
  paymentMethodIds: number[];
  windowMinutes: string;
  terms: string;
}

export type AdErrors = Partial<Record<keyof AdDraft, string>>;

const MARGIN_TEXT = /^\s*-?(\d{1,2}(\.\d{1,2})?|\.\d{1,2})\s*$/;

/** Validate the post-an-ad form; returns the field errors and, when there are none,
 * the request body of POST /api/v1/p2p/ads. ``available`` is the seller's free balance
 * of the asset (a sell ad escrows its whole quantity). */
export function validateAd(draft: AdDraft, opts: { assetDecimals: number; fiatDecimals: number; available?: string | null }):
  { errors: AdErrors; body: Schemas["NewAd"] | null } {
  const errors: AdErrors = {};
  const body: Schemas["NewAd"] = { side: draft.side, asset: draft.asset, fiat: draft.fiat, quantity: "", payment_window_seconds: 900, terms: "" };
  if (!draft.asset) errors.asset = "Choose an asset.";
  if (!draft.fiat) errors.fiat = "Choose a fiat currency.";
  if (draft.priceMode === "fixed") {
    const p = checkAmount(draft.price, opts.fiatDecimals, "price");
    if ("error" in p) errors.price = p.error;
    else body.price = p.value.toFixed();
  } else {
    if (!MARGIN_TEXT.test(draft.marginPct)) errors.marginPct = "Enter a margin in percent with up to 2 decimals, e.g. 1.5 or -0.75.";
    else {
      // basis points are a small whole count (not money): exact as a number
      const bps = new Decimal(draft.marginPct.trim()).mul(100).toNumber();
      if (Math.abs(bps) > 5000) errors.marginPct = "The margin must be between -50% and +50%.";
      else body.price_margin_bps = bps;
    }
    if (!draft.priceSymbol) errors.priceSymbol = "Choose the market whose mid prices the ad.";
    else body.price_symbol = draft.priceSymbol;
  }
  const q = checkAmount(draft.quantity, opts.assetDecimals, "quantity");
  let quantity: Decimal | null = null;
  if ("error" in q) errors.quantity = q.error;
  else {
    quantity = q.value;
    body.quantity = q.value.toFixed();
    if (draft.side === "sell" && opts.available != null && q.value.gt(dec(opts.available))) {
      errors.quantity = `A sell ad puts its whole quantity in escrow: you have ${opts.available} ${draft.asset} available.`;
    }
  }
  let min: Decimal | null = null;
  let max: Decimal | null = null;
  if (draft.minQuantity.trim()) {
    const m = checkAmount(draft.minQuantity, opts.assetDecimals, "minimum");
    if ("error" in m) errors.minQuantity = m.error;
    else { min = m.value; body.min_quantity = m.value.toFixed(); }
  }
  if (draft.maxQuantity.trim()) {
    const m = checkAmount(draft.maxQuantity, opts.assetDecimals, "maximum");
    if ("error" in m) errors.maxQuantity = m.error;
    else { max = m.value; body.max_quantity = m.value.toFixed(); }
  }
  if (min && max && min.gt(max)) errors.minQuantity = "The minimum is above the maximum.";
  if (quantity && max && max.gt(quantity)) errors.maxQuantity = "The maximum is above the total quantity.";
  if (quantity && min && !max && min.gt(quantity)) errors.minQuantity = "The minimum is above the total quantity.";
  if (draft.paymentMethodIds.length === 0) errors.paymentMethodIds = "Choose at least one payment method.";
  else body.payment_method_ids = draft.paymentMethodIds;
  const minutes = /^\s*\d{1,3}\s*$/.test(draft.windowMinutes) ? Number(draft.windowMinutes) : NaN;
  if (!(minutes >= 5 && minutes <= 360)) errors.windowMinutes = "The payment window is 5 to 360 minutes.";
  else body.payment_window_seconds = minutes * 60;
  if (draft.terms.length > 1000) errors.terms = "The terms have at most 1,000 characters.";
  else body.terms = draft.terms;
  return Object.keys(errors).length ? { errors, body: null } : { errors, body };
}

/** Validate a take: within the ad's min/max and what remains, within the asset's
 * decimals (and, taking a buy ad as the seller, within the free balance). */
export function validateTake(text: string, ad: Pick<AdView, "min_quantity" | "max_quantity" | "remaining" | "asset" | "side">,
  assetDecimals: number, available?: string | null): { quantity: string } | { error: string } {
  const q = checkAmount(text, assetDecimals, "quantity");
  if ("error" in q) return q;
  const upper = Decimal.min(dec(ad.max_quantity), dec(ad.remaining));
  if (q.value.lt(dec(ad.min_quantity)) || q.value.gt(upper)) {
    return { error: `Take between ${dec(ad.min_quantity).toFixed()} and ${upper.toFixed()} ${ad.asset}.` };
  }
  if (ad.side === "buy" && available != null && q.value.gt(dec(available))) {
    return { error: `You sell into a buy ad from your balance: ${available} ${ad.asset} available.` };
  }
  return { quantity: q.value.toFixed() };
}

/** The completion rate as a percentage with one decimal ("95.0%"), or "–". */
export function formatRate(rate: string | null | undefined): string {
  if (rate == null || rate === "") return "–";
  return `${dec(rate).mul(100).toFixed(1, Decimal.ROUND_HALF_UP)}%`;
}

/** A maker's record in one line, in words that read well with no history: "New trader"
 * until a trade has finished, then completed trades, completion rate, median release
 * time (only when there is one) and feedback. */
export function statsLine(stats: MakerStats): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const running = Math.max(stats.trades - stats.finished_trades, 0);
  const parts: string[] = [];
  if (stats.finished_trades === 0) {
    parts.push("New trader");
    if (running > 0) parts.push(`${plural(running, "trade")} in progress`);
  } else {
    parts.push(stats.completed_trades === 0 ? "No completed trade yet" : `${plural(stats.completed_trades, "trade")} completed`);
    if (stats.completion_rate != null && stats.completion_rate !== "") parts.push(`${formatRate(stats.completion_rate)} completion rate`);
    if (stats.median_release_seconds != null) parts.push(`releases in ${formatDuration(stats.median_release_seconds)} (median)`);
  }
  const votes = stats.positive_feedback + stats.negative_feedback;
  if (votes > 0) parts.push(`feedback +${stats.positive_feedback} / −${stats.negative_feedback}`);
  return parts.join(" · ");
}

/** A median release time in words: "45 s", "3 min", "2 h 5 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** A fresh idempotency key for one click of one action. */
export function newKey(action: string): string {
  const random = typeof crypto !== "undefined" && "randomUUID" in crypto ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  return `${action}-${random}`.slice(0, 64);
}
