// The wallet's withdraw and transfer forms: a zod schema over the typed values, with the
// asset's decimals and the available balance (decimal strings, never floats).
import { z } from "zod";
import { isOnStep, parseDecimal } from "./decimal";

export type MoveKind = "withdraw" | "transfer";

export interface MoveValues {
  asset: string;
  amount: string;
  target: string;
}

export interface MoveContext {
  /** The asset's number of decimals. */
  decimals: (asset: string) => number;
  /** The available balance of the asset, a decimal string. */
  available: (asset: string) => string;
}

/** ``0.01`` for 2 decimals, ``1`` for none. */
export function stepOf(decimals: number): string {
  return decimals <= 0 ? "1" : `0.${"0".repeat(decimals - 1)}1`;
}

export function moveSchema(kind: MoveKind, context: MoveContext) {
  return z.object({
    asset: z.string().regex(/^[A-Za-z0-9]{1,10}$/, "Choose an asset."),
    amount: z.string().trim(),
    target: z.string().trim().max(128, "At most 128 characters.")
      .regex(/^[^\x00-\x1f\x7f]*$/, "Control characters are not allowed."),
  }).superRefine((v, issues) => {
    const value = parseDecimal(v.amount);
    const decimals = context.decimals(v.asset);
    const available = context.available(v.asset);
    const problem = value === null || value.lte(0) ? "Enter a positive amount."
      : !isOnStep(value, stepOf(decimals)) ? `${v.asset} has ${decimals} decimals.`
      : value.gt(available) ? `Insufficient ${v.asset}: ${available} available.` : null;
    if (problem) issues.addIssue({ code: "custom", path: ["amount"], message: problem });
    if (kind === "transfer" && !v.target) issues.addIssue({ code: "custom", path: ["target"], message: "Enter the wallet address to send to." });
  });
}
