// The P2P forms' rules as zod schemas (react-hook-form resolves them, as the order and
// wallet forms do): the same limits as the server's bodies (lengths, no control
// characters), with sentences a trader can act on.
import { z } from "zod";
import { validateAd, type AdDraft } from "./p2p";

const NO_CONTROL = /^[^\x00-\x1f\x7f]*$/;
const MULTILINE = /^[^\x00-\x09\x0b-\x1f\x7f]*$/; // a line break is fine in a message

/** Free text: trimmed, ``min``..``max`` characters, no control characters. */
function text(max: number, empty: string | null, multiline = false) {
  const base = z.string().trim().max(max, `At most ${max} characters.`)
    .regex(multiline ? MULTILINE : NO_CONTROL, "Control characters are not allowed.");
  return empty === null ? base : base.min(1, empty);
}

export const paymentMethodSchema = z.object({
  name: text(40, "Enter a name, such as SEPA or Revolut."),
  details: text(500, "Enter the details a buyer needs to pay you."),
});
export type PaymentMethodValues = z.infer<typeof paymentMethodSchema>;

export const DISPUTE_REASON_CODES = ["payment_not_received", "payment_not_confirmed", "wrong_amount", "unresponsive", "fraud", "other"] as const;

export const disputeSchema = z.object({
  reason: z.enum(DISPUTE_REASON_CODES, { error: "Choose a reason." }),
  text: text(1000, "Describe what happened: the admin reads it first.", true),
});
export type DisputeValues = z.infer<typeof disputeSchema>;

export const messageSchema = z.object({ text: text(1000, "Write a message.", true) });
export type MessageValues = z.infer<typeof messageSchema>;

/** The comment of a feedback (the thumb is the button pressed). */
export const feedbackSchema = z.object({ comment: text(500, null) });
export type FeedbackValues = z.infer<typeof feedbackSchema>;

export const moderationSchema = z.object({ reason: text(200, "Give the reason: the maker is told it.") });
export type ModerationValues = z.infer<typeof moderationSchema>;

export const resolveSchema = z.object({
  outcome: z.enum(["release", "refund"], { error: "Choose release or refund." }),
  note: text(1000, "Write the reason for the decision: both sides see it.", true),
});
export type ResolveValues = z.infer<typeof resolveSchema>;

/** What the post-an-ad form checks against: the asset's and the fiat's decimals (the
 * fiat's undefined until the desk's list loaded), the free balance, and the market a
 * margin ad follows when none was chosen. */
export interface AdContext {
  assetDecimals: number;
  fiatDecimals: number | undefined;
  available: string | null;
  defaultSymbol: string;
}

/** The ad as typed, with the market filled in for a margin ad that chose none. */
export function withDefaultSymbol(draft: AdDraft, defaultSymbol: string): AdDraft {
  return draft.priceMode === "margin" && !draft.priceSymbol && defaultSymbol ? { ...draft, priceSymbol: defaultSymbol } : draft;
}

/** The post-an-ad form: every rule of ``validateAd`` (decimals, min ≤ max ≤ total, the
 * escrow within the balance, the window, the terms), each error on its field. */
export function adSchema(context: AdContext) {
  return z.object({
    side: z.enum(["sell", "buy"]),
    asset: z.string(),
    fiat: z.string(),
    priceMode: z.enum(["fixed", "margin"]),
    price: z.string(),
    marginPct: z.string(),
    priceSymbol: z.string(),
    quantity: z.string(),
    minQuantity: z.string(),
    maxQuantity: z.string(),
    paymentMethodIds: z.array(z.number().int()),
    windowMinutes: z.string(),
    terms: z.string().regex(MULTILINE, "Control characters are not allowed."),
  }).superRefine((draft, issues) => {
    if (context.fiatDecimals === undefined) {
      issues.addIssue({ code: "custom", path: ["fiat"], message: `The desk's fiat currencies have not loaded yet, or it does not take ${draft.fiat}.` });
      return;
    }
    const { errors } = validateAd(withDefaultSymbol(draft, context.defaultSymbol),
      { assetDecimals: context.assetDecimals, fiatDecimals: context.fiatDecimals, available: context.available });
    for (const [field, message] of Object.entries(errors)) issues.addIssue({ code: "custom", path: [field], message });
  });
}
