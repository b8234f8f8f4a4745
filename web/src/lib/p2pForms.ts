// The P2P forms' rules as zod schemas (react-hook-form resolves them, as the order and
// wallet forms do): the same limits as the server's bodies (lengths, no control
// characters), with sentences a trader can act on.
import { z } from "zod";

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
