// The order form's zod schema, apart from the rules themselves (orderForm.ts) so that
// zod loads with the form, not with the trading screen's first script.
import { z } from "zod";
import type { SymbolInfo } from "./market";
import { validateOrder, type Market } from "./orderForm";

export interface OrderContext {
  market: Market;
  availableBase: string;
  availableQuote: string;
  quoteDecimals: number;
  nowMs?: number;
}

/** The order form's schema: the values' shape, then the exchange's rules for ``s`` in
 * ``context`` (the balances and the best prices now), each error on its field; an error
 * of the whole order lands on ``root``. */
export function orderSchema(s: SymbolInfo, context: OrderContext) {
  return z.object({
    side: z.enum(["buy", "sell"]),
    type: z.enum(["limit", "market", "stop_limit", "stop_market"]),
    price: z.string(),
    quantity: z.string(),
    quoteQuantity: z.string(),
    amountIn: z.enum(["base", "quote"]),
    stopPrice: z.string(),
    displayQuantity: z.string(),
    timeInForce: z.enum(["gtc", "ioc", "fok", "gtd"]),
    expireAt: z.string(),
    postOnly: z.boolean(),
    stp: z.enum(["cancel_newest", "cancel_oldest", "cancel_both", "decrement_and_cancel"]),
    clientOrderId: z.string().max(64),
  }).superRefine((draft, issues) => {
    const errors = validateOrder(s, draft, context.market, context.availableBase, context.availableQuote,
      context.quoteDecimals, context.nowMs);
    for (const [field, message] of Object.entries(errors)) {
      issues.addIssue({ code: "custom", path: [field === "form" ? "root" : field], message });
    }
  });
}
