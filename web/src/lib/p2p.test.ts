import { describe, expect, it } from "vitest";
import {
  actionBody, addMessage, mergeMessages, type TradeMessage, activeDeadline, canDispute, canResolve, fiatAmount, formatCountdown, formatDuration, formatMargin, formatRate,
  marginPrice, NEVER_CANCEL_AFTER_PAYING, statsLine, type MakerStats, RELEASE_ONLY_AFTER_MONEY, remainingMs, stepOf, tradeButtons, validateAd, validateTake,
  type AdDraft, type TradeAction, type TradeState,
} from "./p2p";

const view = (state: TradeState, allowed: TradeAction[], role: "buyer" | "seller" | "admin" = "buyer") =>
  ({ state, allowed_actions: allowed, my_role: role });

describe("trade buttons follow allowed_actions", () => {
  it("shows only what the server allows", () => {
    expect(tradeButtons(view("pending_payment", ["paid", "cancel"])).map((b) => b.action)).toEqual(["paid", "cancel"]);
    expect(tradeButtons(view("pending_payment", [], "seller"))).toEqual([]);
    expect(tradeButtons(view("paid", ["release"], "seller")).map((b) => b.action)).toEqual(["release"]);
    expect(tradeButtons(view("completed", []))).toEqual([]);
  });

  it("never shows an action the state cannot have, even if a stale view names it", () => {
    expect(tradeButtons(view("completed", ["release", "cancel", "paid"]))).toEqual([]);
    expect(tradeButtons(view("disputed", ["cancel", "paid"]))).toEqual([]);
    expect(tradeButtons(view("pending_payment", ["release"], "seller"))).toEqual([]);
  });

  it("warns before cancelling after paying and before releasing", () => {
    const cancelPaid = tradeButtons(view("paid", ["cancel"]))[0]!;
    expect(cancelPaid.confirm).toBe(NEVER_CANCEL_AFTER_PAYING);
    const cancelPending = tradeButtons(view("pending_payment", ["cancel"]))[0]!;
    expect(cancelPending.confirm).toBeNull();
    const release = tradeButtons(view("disputed", ["release"], "seller"))[0]!;
    expect(release.confirm).toBe(RELEASE_ONLY_AFTER_MONEY);
  });

  it("opens the dispute and resolve forms only when allowed", () => {
    expect(canDispute(view("paid", ["dispute"]))).toBe(true);
    expect(canDispute(view("paid", ["release"]))).toBe(false);
    expect(canDispute(view("disputed", ["dispute"]))).toBe(false);
    expect(canResolve(view("disputed", ["resolve"], "admin"))).toBe(true);
    expect(canResolve(view("paid", ["resolve"], "admin"))).toBe(false);
  });

  it("every action carries the state shown and a key", () => {
    expect(actionBody({ state: "paid" }, "k1", { confirm: true })).toEqual({ expected_state: "paid", idempotency_key: "k1", confirm: true });
  });

  it("maps states to steps", () => {
    expect(["pending_payment", "paid", "disputed", "completed", "expired"].map((s) => stepOf(s as TradeState))).toEqual([0, 1, 1, 2, 2]);
  });
});

describe("countdown from the server's clock", () => {
  const now = "2026-12-03T12:00:00Z";
  it("is the deadline minus the server's now, less the time waited since", () => {
    expect(remainingMs("2026-12-03T12:15:00Z", now, 1000, 1000)).toBe(15 * 60_000);
    expect(remainingMs("2026-12-03T12:15:00Z", now, 1000, 61_000)).toBe(14 * 60_000);
  });

  it("ignores the browser's wall clock (a PC an hour off counts the same)", () => {
    // nothing in the computation reads Date.now(): only the server's now and a monotonic gap
    const a = remainingMs("2026-12-03T12:01:00Z", now, 5_000_000, 5_030_000);
    const b = remainingMs("2026-12-03T12:01:00Z", now, 9, 30_009);
    expect(a).toBe(30_000);
    expect(b).toBe(30_000);
  });

  it("stops at zero and has no value without a deadline", () => {
    expect(remainingMs("2026-12-03T11:59:00Z", now, 0, 0)).toBe(0);
    expect(remainingMs("2026-12-03T12:00:10Z", now, 0, 60_000)).toBe(0);
    expect(remainingMs(null, now, 0, 0)).toBeNull();
  });

  it("formats minutes and hours", () => {
    expect(formatCountdown(15 * 60_000)).toBe("15:00");
    expect(formatCountdown(59_999)).toBe("00:59");
    expect(formatCountdown(3 * 3600_000 + 5 * 60_000 + 7_000)).toBe("3:05:07");
    expect(formatCountdown(-5)).toBe("00:00");
  });

  it("counts to the payment deadline, then to the appeal, then to escalation", () => {
    const base = { pay_by: "2026-12-03T12:15:00Z", appeal_after: "2026-12-03T12:20:00Z", escalate_at: "2026-12-04T12:05:00Z", now };
    expect(activeDeadline({ ...base, state: "pending_payment" })?.at).toBe(base.pay_by);
    expect(activeDeadline({ ...base, state: "paid" })?.at).toBe(base.appeal_after);
    expect(activeDeadline({ ...base, state: "paid", now: "2026-12-03T12:30:00Z" })?.at).toBe(base.escalate_at);
    expect(activeDeadline({ ...base, state: "disputed" })).toBeNull();
    expect(activeDeadline({ ...base, state: "completed" })).toBeNull();
  });
});

describe("amounts", () => {
  it("rounds the fiat amount half up to the fiat's decimals, exactly", () => {
    expect(fiatAmount("0.5", "30000.00", 2)).toBe("15000.00");
    expect(fiatAmount("0.00000001", "50000.00", 2)).toBe("0.00"); // 0.0005: below half a cent
    expect(fiatAmount("0.0000001", "50000.00", 2)).toBe("0.01"); // 0.005: exactly half, up
    expect(fiatAmount("0.12345678", "61234.57", 2)).toBe("7559.82"); // 7559.8228368846
    // a value beyond double precision stays exact
    expect(fiatAmount("123456789.12345678", "99999999.99", 2)).toBe("12345678911111110.11");
  });

  it("prices a margin over a mid", () => {
    expect(marginPrice("50000.00", 150, 2)).toBe("50750.00");
    expect(marginPrice("50000.00", -25, 2)).toBe("49875.00");
    expect(formatMargin(150)).toBe("+1.50%");
    expect(formatMargin(-25)).toBe("-0.25%");
  });

  it("formats stats", () => {
    expect(formatRate("0.955")).toBe("95.5%");
    expect(formatRate(null)).toBe("–");
    expect(formatDuration(42)).toBe("42 s");
    expect(formatDuration(7500)).toBe("2 h 5 min");
  });
});

const draft = (change: Partial<AdDraft> = {}): AdDraft => ({
  side: "sell", asset: "BTC", fiat: "USD", priceMode: "fixed", price: "50000", marginPct: "", priceSymbol: "",
  quantity: "0.5", minQuantity: "0.01", maxQuantity: "0.5", paymentMethodIds: [3], windowMinutes: "15", terms: "SEPA only", ...change,
});
const opts = { assetDecimals: 8, fiatDecimals: 2, available: "1" };

describe("a maker's stats line", () => {
  const stats = (part: Partial<MakerStats>): MakerStats => ({
    user_id: 7, trades: 0, finished_trades: 0, completed_trades: 0, completion_rate: null, median_release_seconds: null,
    positive_feedback: 0, negative_feedback: 0, ...part,
  });

  it("calls a maker with no finished trade a new trader, without empty figures", () => {
    expect(statsLine(stats({}))).toBe("New trader");
    expect(statsLine(stats({ trades: 2 }))).toBe("New trader · 2 trades in progress");
    expect(statsLine(stats({ trades: 1 }))).not.toMatch(/–|0 trades|releases in/);
  });

  it("gives the record once trades finished: count, rate, median release, feedback", () => {
    expect(statsLine(stats({ trades: 21, finished_trades: 20, completed_trades: 19, completion_rate: "0.95", median_release_seconds: 185,
      positive_feedback: 12, negative_feedback: 1 })))
      .toBe("19 trades completed · 95.0% completion rate · releases in 3 min (median) · feedback +12 / −1");
    expect(statsLine(stats({ trades: 1, finished_trades: 1, completed_trades: 1, completion_rate: "1", median_release_seconds: 40 })))
      .toBe("1 trade completed · 100.0% completion rate · releases in 40 s (median)");
  });

  it("says so when every finished trade was cancelled or expired", () => {
    expect(statsLine(stats({ trades: 2, finished_trades: 2, completion_rate: "0" })))
      .toBe("No completed trade yet · 0.0% completion rate");
  });
});

describe("the post-an-ad form", () => {
  it("builds the REST body with decimal strings", () => {
    const { errors, body } = validateAd(draft(), opts);
    expect(errors).toEqual({});
    expect(body).toEqual({
      side: "sell", asset: "BTC", fiat: "USD", price: "50000", quantity: "0.5", min_quantity: "0.01", max_quantity: "0.5",
      payment_method_ids: [3], payment_window_seconds: 900, terms: "SEPA only",
    });
  });

  it("takes a margin over a symbol's mid instead of a price", () => {
    const { errors, body } = validateAd(draft({ priceMode: "margin", price: "", marginPct: "-1.25", priceSymbol: "BTC-USD" }), opts);
    expect(errors).toEqual({});
    expect(body).toMatchObject({ price_margin_bps: -125, price_symbol: "BTC-USD" });
    expect(body).not.toHaveProperty("price");
    expect(validateAd(draft({ priceMode: "margin", marginPct: "60", priceSymbol: "BTC-USD" }), opts).errors.marginPct).toMatch(/-50%/);
    expect(validateAd(draft({ priceMode: "margin", marginPct: "1e2", priceSymbol: "BTC-USD" }), opts).errors.marginPct).toBeDefined();
  });

  it("refuses bad amounts with sentences", () => {
    expect(validateAd(draft({ price: "50000.001" }), opts).errors.price).toMatch(/2 decimals/);
    expect(validateAd(draft({ price: "1e5" }), opts).errors.price).toMatch(/positive price/);
    expect(validateAd(draft({ quantity: "0" }), opts).errors.quantity).toMatch(/positive/);
    expect(validateAd(draft({ quantity: "0.123456789" }), opts).errors.quantity).toMatch(/8 decimals/);
    expect(validateAd(draft({ quantity: "2", maxQuantity: "1" }), opts).errors.quantity).toMatch(/escrow/);
    expect(validateAd(draft({ side: "buy", quantity: "2", maxQuantity: "1" }), opts).errors.quantity).toBeUndefined();
    expect(validateAd(draft({ minQuantity: "0.6" }), opts).errors.minQuantity).toMatch(/above the maximum/);
    expect(validateAd(draft({ maxQuantity: "0.7" }), opts).errors.maxQuantity).toMatch(/above the total/);
    expect(validateAd(draft({ paymentMethodIds: [] }), opts).errors.paymentMethodIds).toBeDefined();
    expect(validateAd(draft({ windowMinutes: "4" }), opts).errors.windowMinutes).toBeDefined();
    expect(validateAd(draft({ windowMinutes: "361" }), opts).errors.windowMinutes).toBeDefined();
    expect(validateAd(draft({ terms: "x".repeat(1001) }), opts).errors.terms).toBeDefined();
    expect(validateAd(draft({ price: "" }), opts).body).toBeNull();
  });
});

describe("taking an ad", () => {
  const ad = { min_quantity: "0.01", max_quantity: "0.5", remaining: "0.3", asset: "BTC", side: "sell" as const };
  it("keeps the quantity within min, max and what remains", () => {
    expect(validateTake("0.2", ad, 8)).toEqual({ quantity: "0.2" });
    expect(validateTake("0.3", ad, 8)).toEqual({ quantity: "0.3" });
    expect(validateTake("0.4", ad, 8)).toEqual({ error: "Take between 0.01 and 0.3 BTC." });
    expect(validateTake("0.001", ad, 8)).toHaveProperty("error");
    expect(validateTake("abc", ad, 8)).toHaveProperty("error");
    expect(validateTake("0.000000001", ad, 8)).toHaveProperty("error");
  });

  it("a seller taking a buy ad needs the free balance", () => {
    expect(validateTake("0.2", { ...ad, side: "buy" }, 8, "0.1")).toHaveProperty("error");
    expect(validateTake("0.2", { ...ad, side: "buy" }, 8, "0.25")).toEqual({ quantity: "0.2" });
  });
});

describe("the chat across refetches", () => {
  const m = (seq: number, text: string): TradeMessage =>
    ({ seq, message_id: seq, trade_id: 1, user_id: 2, author: "buyer", text, at: "2026-12-03T12:00:00Z" });

  it("keeps a line the read model has not caught up with, drops nothing the server has", () => {
    const held = [m(1, "a"), m(2, "b"), m(5, "just sent")];
    expect(mergeMessages([m(1, "a"), m(2, "b")], held).map((x) => x.text)).toEqual(["a", "b", "just sent"]);
    // once the server has it: once
    expect(mergeMessages([m(1, "a"), m(2, "b"), m(5, "just sent")], held).map((x) => x.text)).toEqual(["a", "b", "just sent"]);
    // a held line older than the server's last is the server's to keep or not
    expect(mergeMessages([m(1, "a"), m(6, "c")], [m(3, "gone")]).map((x) => x.text)).toEqual(["a", "c"]);
  });

  it("appends a pushed or sent line once, in sequence order", () => {
    const once = addMessage([m(1, "a"), m(3, "c")], m(2, "b"));
    expect(once.map((x) => x.text)).toEqual(["a", "b", "c"]);
    expect(addMessage(once, m(2, "b"))).toHaveLength(3);
  });
});
