import { describe, expect, it } from "vitest";
import { adSchema, disputeSchema, feedbackSchema, messageSchema, moderationSchema, paymentMethodSchema, resolveSchema } from "./p2pForms";

const messages = (result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  Object.fromEntries((result.error?.issues ?? []).map((i) => [String(i.path[0]), i.message]));

describe("the P2P forms' schemas", () => {
  it("needs a payment method's name and details, trimmed, within the server's lengths", () => {
    expect(messages(paymentMethodSchema.safeParse({ name: "  ", details: "" }))).toEqual({
      name: "Enter a name, such as SEPA or Revolut.", details: "Enter the details a buyer needs to pay you.",
    });
    expect(messages(paymentMethodSchema.safeParse({ name: "x".repeat(41), details: "IBAN\u0007" }))).toEqual({
      name: "At most 40 characters.", details: "Control characters are not allowed.",
    });
    expect(paymentMethodSchema.parse({ name: " SEPA ", details: " IBAN DE89 " })).toEqual({ name: "SEPA", details: "IBAN DE89" });
  });

  it("needs a known dispute reason and a description (line breaks allowed)", () => {
    expect(messages(disputeSchema.safeParse({ reason: "payment_not_received", text: " " }))).toEqual({
      text: "Describe what happened: the admin reads it first.",
    });
    expect(disputeSchema.safeParse({ reason: "bored", text: "x" }).success).toBe(false);
    expect(disputeSchema.parse({ reason: "fraud", text: "line one\nline two" }).text).toBe("line one\nline two");
  });

  it("refuses an empty chat message and an overlong one; the feedback comment is optional", () => {
    expect(messages(messageSchema.safeParse({ text: "" }))).toEqual({ text: "Write a message." });
    expect(messages(messageSchema.safeParse({ text: "x".repeat(1001) }))).toEqual({ text: "At most 1000 characters." });
    expect(feedbackSchema.parse({ comment: "" })).toEqual({ comment: "" });
    expect(feedbackSchema.safeParse({ comment: "x".repeat(501) }).success).toBe(false);
  });

  it("needs a reason to remove an ad, and an outcome and a note to resolve a dispute", () => {
    expect(messages(moderationSchema.safeParse({ reason: "" }))).toEqual({ reason: "Give the reason: the maker is told it." });
    expect(messages(resolveSchema.safeParse({ note: "" }))).toEqual({
      outcome: "Choose release or refund.", note: "Write the reason for the decision: both sides see it.",
    });
    expect(resolveSchema.parse({ outcome: "refund", note: " paid twice " })).toEqual({ outcome: "refund", note: "paid twice" });
  });
});

describe("the post-an-ad schema", () => {
  const draft = {
    side: "sell" as const, asset: "BTC", fiat: "USD", priceMode: "fixed" as const, price: "50000", marginPct: "0", priceSymbol: "",
    quantity: "0.5", minQuantity: "0.01", maxQuantity: "0.5", paymentMethodIds: [4], windowMinutes: "15", terms: "",
  };
  const context = { assetDecimals: 8, fiatDecimals: 2, available: "1", defaultSymbol: "BTC-USD" };

  it("puts each rule's sentence on its field", () => {
    const result = adSchema(context).safeParse({ ...draft, price: "50000.001", quantity: "2", paymentMethodIds: [], windowMinutes: "2" });
    expect(messages(result)).toEqual({
      price: expect.stringContaining("2 decimals"),
      quantity: "A sell ad puts its whole quantity in escrow: you have 1 BTC available.",
      paymentMethodIds: "Choose at least one payment method.",
      windowMinutes: "The payment window is 5 to 360 minutes.",
    });
    expect(adSchema(context).safeParse(draft).success).toBe(true);
  });

  it("takes the first market for a margin ad that chose none, and waits for the fiat list", () => {
    expect(adSchema(context).safeParse({ ...draft, priceMode: "margin", marginPct: "1.5" }).success).toBe(true);
    expect(messages(adSchema({ ...context, defaultSymbol: "" }).safeParse({ ...draft, priceMode: "margin", marginPct: "1.5" })))
      .toEqual({ priceSymbol: "Choose the market whose mid prices the ad." });
    expect(messages(adSchema({ ...context, fiatDecimals: undefined }).safeParse(draft)).fiat).toMatch(/not loaded yet/);
  });
});
