import { describe, expect, it } from "vitest";
import { Decimal } from "./decimal";
import type { SymbolInfo } from "./market";
import {
  EMPTY_DRAFT, buyHold, orderBody, quantityForFraction, quoteForFraction, validateOrder, type OrderDraft,
} from "./orderForm";
import { orderSchema } from "./orderSchema";

const BTC: SymbolInfo = {
  symbol: "BTC-USD", base: "BTC", quote: "USD", tick_size: "0.01", lot_size: "0.0001", min_quantity: "0.0001",
  max_quantity: "1000.0000", min_notional: "1.000000", price_band_bps: 1000, market_protection_bps: 500,
  maker_fee: "0.0002", taker_fee: "0.0005", halted: false,
};
const draft = (change: Partial<OrderDraft>): OrderDraft => ({ ...EMPTY_DRAFT, ...change });
const market = { bestBid: "49990.00", bestAsk: "50000.00" };

describe("% of balance", () => {
  it("never exceeds the balance with the fee included, rounding down to the lot", () => {
    for (const [balance, price] of [["1000", "50000.00"], ["123.456789", "49999.99"], ["50025", "50000.00"], ["0.5", "3.33"]] as const) {
      for (const fraction of ["0.25", "0.5", "0.75", "1"]) {
        const qty = quantityForFraction(BTC, "buy", new Decimal(fraction), "0", balance, new Decimal(price), 6);
        expect(qty.mod("0.0001").isZero()).toBe(true);
        const budget = new Decimal(balance).mul(fraction);
        expect(buyHold(BTC, new Decimal(price), qty, 6).lte(budget)).toBe(true);
        // one more lot would not fit: the button gives the most it can
        expect(buyHold(BTC, new Decimal(price), qty.plus("0.0001"), 6).gt(budget)).toBe(true);
      }
    }
  });

  it("takes the fee into account: 100% of 50,025 USD at 50,000 is 1 BTC with a 0.05% fee", () => {
    expect(quantityForFraction(BTC, "buy", new Decimal(1), "0", "50025", new Decimal("50000"), 6).toFixed()).toBe("1");
    expect(quantityForFraction(BTC, "buy", new Decimal(1), "0", "50024.99", new Decimal("50000"), 6).toFixed()).toBe("0.9999");
  });

  it("sells at most the base balance, rounded down to the lot", () => {
    expect(quantityForFraction(BTC, "sell", new Decimal("0.5"), "0.00019", "0", null, 6).toFixed()).toBe("0");
    expect(quantityForFraction(BTC, "sell", new Decimal(1), "1.23456789", "0", null, 6).toFixed()).toBe("1.2345");
  });
});

describe("validateOrder", () => {
  const ok = (d: OrderDraft) => validateOrder(BTC, d, market, "10", "1000000", 6, 0);

  it("accepts a valid limit order", () => {
    expect(ok(draft({ price: "50000.00", quantity: "0.01" }))).toEqual({});
  });

  it("checks the tick, the lot, the minimum and the notional", () => {
    expect(ok(draft({ price: "50000.001", quantity: "0.01" })).price).toMatch(/tick 0.01/);
    expect(ok(draft({ price: "50000", quantity: "0.00001" })).quantity).toMatch(/lot 0.0001/);
    expect(ok(draft({ price: "1.00", quantity: "0.0001" })).quantity).toMatch(/minimum notional/);
    expect(ok(draft({ price: "50000", quantity: "1001" })).quantity).toMatch(/maximum/);
    expect(ok(draft({ price: "1e3", quantity: "1" })).price).toMatch(/plain decimal/);
  });

  it("checks the balance, fees included", () => {
    const v = (q: string, quote: string) => validateOrder(BTC, draft({ price: "50000.00", quantity: q }), market, "0", quote, 6, 0);
    expect(v("1", "50025").quantity).toBeUndefined();
    expect(v("1", "50024.99").quantity).toMatch(/Insufficient USD/);
    expect(validateOrder(BTC, draft({ side: "sell", price: "50000", quantity: "2" }), market, "1", "0", 6, 0).quantity).toMatch(/Insufficient BTC/);
  });

  it("checks the fields of each order type", () => {
    expect(ok(draft({ type: "stop_limit", price: "50000", quantity: "0.01" })).stopPrice).toBe("Enter a stop price.");
    expect(ok(draft({ type: "market", quantity: "0.01", timeInForce: "ioc" }))).toEqual({});
    expect(ok(draft({ type: "market", quantity: "0.01", timeInForce: "gtc" })).form).toMatch(/IOC or FOK/);
    expect(ok(draft({ price: "50000", quantity: "0.01", displayQuantity: "0.02" })).displayQuantity).toMatch(/below the quantity/);
    expect(ok(draft({ price: "50000", quantity: "0.01", postOnly: true, timeInForce: "ioc" })).form).toMatch(/Post-only/);
    expect(ok(draft({ price: "50000", quantity: "0.01", timeInForce: "gtd", expireAt: "" })).expireAt).toMatch(/expires/);
  });

  it("builds the request body with strings for every amount", () => {
    const body = orderBody("BTC-USD", draft({ type: "stop_limit", price: "50000.00", stopPrice: "49000.00", quantity: "0.01", displayQuantity: "0.001" }));
    expect(body).toEqual({
      symbol: "BTC-USD", side: "buy", type: "stop_limit", quantity: "0.01", price: "50000.00", stop_price: "49000.00",
      display_quantity: "0.001", time_in_force: "gtc", self_trade_prevention: "cancel_newest",
    });
    const gtd = orderBody("BTC-USD", draft({ price: "1", quantity: "1", timeInForce: "gtd", expireAt: "2030-01-01T00:00:00Z" }));
    expect(gtd.expire_time_ns).toBe("1893456000000000000");
  });
});

describe("market buys by quote amount", () => {
  const spend = (quoteQuantity: string, change: Partial<OrderDraft> = {}) =>
    draft({ side: "buy", type: "market", timeInForce: "ioc", amountIn: "quote", quoteQuantity, ...change });

  it("sends quote_quantity, never a quantity", () => {
    const body = orderBody("BTC-USD", spend("250.50"));
    expect(body.quote_quantity).toBe("250.50");
    expect(body).not.toHaveProperty("quantity");
    expect(orderBody("BTC-USD", spend("250.50", { side: "sell" }))).not.toHaveProperty("quote_quantity");
  });

  it("checks the amount: decimals of the quote, minimum notional, the balance, a book to buy from", () => {
    const v = (text: string, available = "1000", m = market) => validateOrder(BTC, spend(text), m, "0", available, 6).quoteQuantity;
    expect(v("250.5")).toBeUndefined();
    expect(v("")).toBe("Enter the USD amount to spend.");
    expect(v("1e3")).toBe("The amount must be a plain decimal number.");
    expect(v("0.0000001")).toBe("The amount has at most 6 decimals.");
    expect(v("0.5")).toBe("The amount is below the minimum notional 1.000000 USD.");
    expect(v("1000.000001")).toBe("Insufficient USD: 1000 available.");
    expect(v("1000")).toBeUndefined(); // the hold is the amount itself, fees included
    expect(v("10", "1000", { bestBid: "1.00", bestAsk: undefined } as never)).toBe("There is no opposite order to trade with.");
    // the quantity is not asked for
    expect(validateOrder(BTC, spend("10"), market, "0", "1000", 6).quantity).toBeUndefined();
  });

  it("% buttons give a share of the available quote, rounded down to its minor unit", () => {
    expect(quoteForFraction(new Decimal("0.25"), "1234.567891", 6).toFixed()).toBe("308.641972");
    expect(quoteForFraction(new Decimal(1), "1234.567891", 6).toFixed()).toBe("1234.567891");
    expect(quoteForFraction(new Decimal("0.75"), "0.000003", 6).toFixed()).toBe("0.000002");
  });
});

describe("orderSchema (zod)", () => {
  const context = { market, availableBase: "1", availableQuote: "1000", quoteDecimals: 6 };

  it("accepts a valid order and puts each rule's error on its field", () => {
    const schema = orderSchema(BTC, context);
    expect(schema.safeParse(draft({ price: "50000.00", quantity: "0.0100" })).success).toBe(true);
    const bad = schema.safeParse(draft({ price: "50000.005", quantity: "1" }));
    expect(bad.success).toBe(false);
    const byField = Object.fromEntries((bad.error?.issues ?? []).map((i) => [i.path.join("."), i.message]));
    expect(byField.price).toBe("The price must be a multiple of the tick 0.01.");
  });

  it("refuses values of the wrong shape and puts order-wide errors on root", () => {
    const schema = orderSchema(BTC, context);
    expect(schema.safeParse({ ...draft({}), side: "short" }).success).toBe(false);
    const postOnlyMarket = schema.safeParse(draft({ type: "market", timeInForce: "ioc", postOnly: true, quantity: "0.0001" }));
    expect(postOnlyMarket.error?.issues.map((i) => i.path.join("."))).toContain("root");
  });

  it("judges the balance it is given", () => {
    const order = draft({ price: "50000.00", quantity: "0.0100" });
    expect(orderSchema(BTC, { ...context, availableQuote: "100" }).safeParse(order).success).toBe(false);
    expect(orderSchema(BTC, { ...context, availableQuote: "1000" }).safeParse(order).success).toBe(true);
  });
});
