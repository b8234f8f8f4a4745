// The P2P routes of the REST API (/api/v1/p2p/..., /api/v1/notifications,
// /api/v1/admin/p2p/...). Requests go through the same typed client as the rest of the
// UI (its middleware signs them in); the view types are in lib/p2p.ts.
import { client, refreshSession } from "./client";
import { toApiError } from "../lib/errors";
import type { AdView, Notification, P2PSide, PaymentMethod, TradeMessage, TradeView } from "../lib/p2p";

type Method = "GET" | "POST" | "DELETE";
type Query = Record<string, string | number | undefined>;

// openapi-fetch's untyped face: the path strings below are the server's routes
type Untyped = Record<Method, (path: string, init: { params?: { path?: Record<string, unknown>; query?: Query }; body?: unknown }) =>
  Promise<{ data?: unknown; error?: unknown; response: Response }>>;
const raw = client as unknown as Untyped;

async function call<T>(method: Method, path: string, opts: { path?: Record<string, unknown>; query?: Query; body?: unknown } = {}): Promise<T> {
  const query = opts.query ? Object.fromEntries(Object.entries(opts.query).filter(([, v]) => v !== undefined && v !== "")) : undefined;
  const init = { params: { path: opts.path, query }, ...(opts.body !== undefined ? { body: opts.body } : {}) };
  let answer = await raw[method](path, init);
  if (answer.response.status === 401) {
    const body = answer.error as { code?: number } | undefined;
    if ((body?.code === 5002 || body?.code === 5003) && (await refreshSession())) answer = await raw[method](path, init);
  }
  if (answer.error !== undefined || !answer.response.ok) throw toApiError(answer.response.status, answer.error);
  return answer.data as T;
}

export interface AdFilter { side?: P2PSide | ""; asset?: string; fiat?: string }

export interface Dispute extends TradeView {
  opened_by?: number;
  reason?: string;
  text?: string;
  opened_at?: string | null;
}

export interface TimelineEntry { at: string; from_state?: string | null; to_state?: string | null; actor_id?: number | null; reason?: string | null; event?: string }

export const p2p = {
  paymentMethods: () => call<PaymentMethod[]>("GET", "/api/v1/p2p/payment-methods"),
  addPaymentMethod: (name: string, details: string) => call<PaymentMethod>("POST", "/api/v1/p2p/payment-methods", { body: { name, details } }),
  removePaymentMethod: (id: number) => call<unknown>("DELETE", "/api/v1/p2p/payment-methods/{method_id}", { path: { method_id: id } }),

  board: (filter: AdFilter) => call<AdView[]>("GET", "/api/v1/p2p/ads", { query: { side: filter.side, asset: filter.asset, fiat: filter.fiat } }),
  myAds: () => call<AdView[]>("GET", "/api/v1/p2p/ads", { query: { mine: "true" } }),
  ad: (id: number) => call<AdView>("GET", "/api/v1/p2p/ads/{ad_id}", { path: { ad_id: id } }),
  postAd: (body: Record<string, unknown>) => call<AdView>("POST", "/api/v1/p2p/ads", { body }),
  adAction: (id: number, action: "pause" | "resume" | "cancel") =>
    call<AdView>("POST", `/api/v1/p2p/ads/{ad_id}/${action}`, { path: { ad_id: id }, body: {} }),
  take: (id: number, quantity: string, paymentMethodId: number | null, idempotencyKey: string) =>
    call<TradeView>("POST", "/api/v1/p2p/ads/{ad_id}/take", {
      path: { ad_id: id }, body: { quantity, idempotency_key: idempotencyKey, ...(paymentMethodId ? { payment_method_id: paymentMethodId } : {}) },
    }),

  trades: () => call<TradeView[]>("GET", "/api/v1/p2p/trades"),
  trade: (id: number) => call<TradeView>("GET", "/api/v1/p2p/trades/{trade_id}", { path: { trade_id: id } }),
  act: (id: number, action: "paid" | "release" | "cancel" | "dispute" | "withdraw-dispute", body: Record<string, unknown>) =>
    call<TradeView>("POST", `/api/v1/p2p/trades/{trade_id}/${action}`, { path: { trade_id: id }, body }),
  messages: (id: number) => call<TradeMessage[]>("GET", "/api/v1/p2p/trades/{trade_id}/messages", { path: { trade_id: id } }),
  postMessage: (id: number, text: string) => call<TradeMessage>("POST", "/api/v1/p2p/trades/{trade_id}/messages", { path: { trade_id: id }, body: { text } }),
  feedback: (id: number, positive: boolean, comment: string) =>
    call<unknown>("POST", "/api/v1/p2p/trades/{trade_id}/feedback", { path: { trade_id: id }, body: { positive, comment } }),

  notifications: () => call<Notification[]>("GET", "/api/v1/notifications"),
  markRead: (ids: number[]) => call<unknown>("POST", "/api/v1/notifications/read", { body: { ids } }),
  markAllRead: (upTo: number) => call<unknown>("POST", "/api/v1/notifications/read", { body: { up_to: upTo } }),

  admin: {
    disputes: () => call<Dispute[]>("GET", "/api/v1/admin/p2p/disputes"),
    timeline: (id: number) => call<TimelineEntry[]>("GET", "/api/v1/admin/p2p/trades/{trade_id}/timeline", { path: { trade_id: id } }),
    resolve: (id: number, outcome: "release" | "refund", note: string, idempotencyKey: string) =>
      call<TradeView>("POST", "/api/v1/admin/p2p/disputes/{trade_id}/resolve", { path: { trade_id: id }, body: { outcome, note, idempotency_key: idempotencyKey } }),
  },
};
