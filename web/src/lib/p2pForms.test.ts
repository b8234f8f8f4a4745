import { describe, expect, it } from "vitest";
import { disputeSchema, feedbackSchema, messageSchema, moderationSchema, paymentMethodSchema, resolveSchema } from "./p2pForms";

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
