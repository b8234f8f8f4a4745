// Server errors are {"code", "message"}; the UI shows the sentence. The server's message
// is the sentence (often with the detail, e.g. the field); the table is the fallback for
// an answer that has only a code.
export interface ApiErrorBody {
  code: number;
  message: string;
  field?: string;
}

export const SENTENCES: Record<number, string> = {
  1001: "The symbol is not traded here.",
  1002: "The quantity must be a positive whole number of lots.",
  1003: "The price must be a positive whole number of ticks.",
  1005: "The order type is not supported, or its fields do not fit it.",
  1006: "The time in force is not valid for this order type.",
  1007: "A stop order needs a positive stop price; other orders none.",
  1008: "The display quantity must be positive and below the order quantity, on a GTC or GTD limit order.",
  1009: "Only GTD orders take an expiry time, and GTD orders need one.",
  1011: "An open order of yours already has this client order id.",
  1012: "No open order has this id.",
  1014: "Only resting limit orders can be amended.",
  1015: "The amendment changes nothing.",
  1016: "The new quantity must exceed the quantity already filled.",
  2001: "Insufficient available balance.",
  2002: "The quantity is below the symbol's minimum.",
  2003: "The quantity is above the symbol's maximum.",
  2004: "The order's value is below the symbol's minimum notional.",
  2005: "The price is outside the allowed band around the reference price.",
  2006: "You have reached the maximum number of open orders.",
  2007: "The order would exceed your position limit for this asset.",
  2008: "Trading in this symbol is halted.",
  2009: "Trading is halted.",
  2010: "Your account is suspended.",
  3001: "A post-only order would have taken liquidity.",
  3002: "The fill-or-kill order could not be filled in full.",
  3003: "There is no liquidity within the protection band.",
  3004: "The stop price has already been reached by the last trade.",
  3005: "The expiry time has already passed.",
  4001: "The asset is not known.",
  4002: "The amount must be positive and within the asset's decimals.",
  4003: "No wallet has this address.",
  4004: "You cannot transfer to your own address.",
  5001: "Sign in first.",
  5002: "Your session has expired; sign in again.",
  5004: "You are not allowed to do this.",
  5005: "Too many requests; slow down.",
  5006: "Too many failed sign-ins; try again later.",
  5007: "Wrong email or password.",
  5008: "An account with this email exists.",
  5010: "The exchange is busy; retry shortly.",
  6001: "The request is not valid.",
  6002: "Not found.",
  6500: "Internal error.",
};

export class ApiError extends Error {
  readonly code: number;
  readonly status: number;
  readonly field: string | undefined;

  constructor(code: number, message: string, status: number, field?: string) {
    super(message);
    this.code = code;
    this.status = status;
    this.field = field;
  }
}

/** The sentence for an error answer: the server's message, else the code's sentence. */
export function sentence(code: number, message?: string | null): string {
  if (message && message.trim()) return message;
  return SENTENCES[code] ?? `Request failed (code ${code}).`;
}

/** An ApiError from any failed answer (JSON error body or not). */
export function toApiError(status: number, body: unknown): ApiError {
  if (body && typeof body === "object" && "code" in body && typeof (body as ApiErrorBody).code === "number") {
    const b = body as ApiErrorBody;
    return new ApiError(b.code, sentence(b.code, b.message), status, b.field);
  }
  return new ApiError(status === 404 ? 6002 : 6500, status === 404 ? "Not found." : `Request failed (HTTP ${status}).`, status);
}
