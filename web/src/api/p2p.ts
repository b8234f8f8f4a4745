// The P2P routes of the REST API (/api/v1/p2p/..., /api/v1/notifications,
// /api/v1/admin/p2p/...) through the typed client: paths, parameters, bodies and answers
// are checked against the server's OpenAPI (schema.d.ts).
import { client, refreshSession } from "./client";
import type { components } from "./schema";
import { toApiError } from "../lib/errors";
import type { P2PSide, TradeAction } from "../lib/p2p";

type S = components["schemas"];
type Answer<T> = Promise<{ data?: T; error?: unknown; response: Response }>;

/** The data of a successful answer, else an ApiError with the server's sentence; an
 * expired access token is refreshed once and the request repeated. */
async function call<T>(request: () => Answer<T>): Promise<T> {
  let answer = await request();
  if (answer.response.status === 401) {
    const body = answer.error as { code?: number } | undefined;
    if ((body?.code === 5002 || body?.code === 5003) && (await refreshSession())) answer = await request();
  }
  if (answer.error !== undefined || !answer.response.ok) throw toApiError(answer.response.status, answer.error);
  return answer.data as T;
}

export interface AdFilter { side?: P2PSide; asset?: string; fiat?: string }
type Action = Exclude<TradeAction, "resolve" | "dispute">;
const path = (trade_id: number) => ({ params: { path: { trade_id } } });
const adPath = (ad_id: number) => ({ params: { path: { ad_id } } });

export const p2p = {
  paymentMethods: () => call(() => client.GET("/api/v1/p2p/payment-methods")),
  addPaymentMethod: (name: string, details: string) => call(() => client.POST("/api/v1/p2p/payment-methods", { body: { name, details } })),
  removePaymentMethod: (method_id: number) =>
    call(() => client.DELETE("/api/v1/p2p/payment-methods/{method_id}", { params: { path: { method_id } } })),

  board: (f: AdFilter) => call(() => client.GET("/api/v1/p2p/ads", { params: { query: { side: f.side, asset: f.asset, fiat: f.fiat } } })),
  myAds: () => call(() => client.GET("/api/v1/p2p/ads/mine")),
  ad: (id: number) => call(() => client.GET("/api/v1/p2p/ads/{ad_id}", adPath(id))),
  postAd: (body: S["NewAd"]) => call(() => client.POST("/api/v1/p2p/ads", { body })),
  adAction: (id: number, action: "pause" | "resume" | "cancel") => call(() =>
    action === "pause" ? client.POST("/api/v1/p2p/ads/{ad_id}/pause", adPath(id))
      : action === "resume" ? client.POST("/api/v1/p2p/ads/{ad_id}/resume", adPath(id))
        : client.POST("/api/v1/p2p/ads/{ad_id}/cancel", adPath(id))),
  take: (id: number, quantity: string, paymentMethodId: number | null, idempotencyKey: string) =>
    call(() => client.POST("/api/v1/p2p/ads/{ad_id}/take", {
      ...adPath(id), body: { quantity, idempotency_key: idempotencyKey, payment_method_id: paymentMethodId },
    })),
  config: () => call(() => client.GET("/api/v1/p2p/config")),
  stats: (user_id: number) => call(() => client.GET("/api/v1/p2p/users/{user_id}/stats", { params: { path: { user_id } } })),

  trades: () => call(() => client.GET("/api/v1/p2p/trades", { params: { query: { limit: 200 } } })),
  trade: (id: number) => call(() => client.GET("/api/v1/p2p/trades/{trade_id}", path(id))),
  act: (id: number, action: Action, body: S["TradeAction"] & { confirm?: boolean }) => call(() => {
    switch (action) {
      case "paid": return client.POST("/api/v1/p2p/trades/{trade_id}/paid", { ...path(id), body });
      case "release": return client.POST("/api/v1/p2p/trades/{trade_id}/release", { ...path(id), body });
      case "cancel": return client.POST("/api/v1/p2p/trades/{trade_id}/cancel", { ...path(id), body: { ...body, confirm: body.confirm ?? false } });
      case "withdraw-dispute": return client.POST("/api/v1/p2p/trades/{trade_id}/withdraw-dispute", { ...path(id), body });
    }
  }),
  dispute: (id: number, body: S["DisputeBody"]) => call(() => client.POST("/api/v1/p2p/trades/{trade_id}/dispute", { ...path(id), body })),
  messages: (id: number) => call(() => client.GET("/api/v1/p2p/trades/{trade_id}/messages", { params: { path: { trade_id: id }, query: { limit: 500 } } })),
  postMessage: (id: number, text: string) => call(() => client.POST("/api/v1/p2p/trades/{trade_id}/messages", { ...path(id), body: { text } })),
  feedback: (id: number, positive: boolean, comment: string) =>
    call(() => client.POST("/api/v1/p2p/trades/{trade_id}/feedback", { ...path(id), body: { positive, comment } })),

  notifications: () => call(() => client.GET("/api/v1/notifications", { params: { query: { limit: 100 } } })),
  markRead: (ids: number[]) => call(() => client.POST("/api/v1/notifications/read", { body: { ids } })),
  markAllRead: (upTo: number) => call(() => client.POST("/api/v1/notifications/read", { body: { up_to: upTo } })),

  admin: {
    disputes: () => call(() => client.GET("/api/v1/admin/p2p/disputes")),
    resolve: (id: number, outcome: "release" | "refund", note: string, idempotencyKey: string) =>
      call(() => client.POST("/api/v1/admin/p2p/disputes/{trade_id}/resolve", { ...path(id), body: { outcome, note, idempotency_key: idempotencyKey } })),
    ads: (status?: "open" | "paused" | "closed" | "cancelled") =>
      call(() => client.GET("/api/v1/admin/p2p/ads", { params: { query: { status, limit: 500 } } })),
    pauseAd: (id: number, reason: string) => call(() => client.POST("/api/v1/admin/p2p/ads/{ad_id}/pause", { ...adPath(id), body: { reason } })),
    resumeAd: (id: number) => call(() => client.POST("/api/v1/admin/p2p/ads/{ad_id}/resume", adPath(id))),
    cancelAd: (id: number, reason: string) => call(() => client.POST("/api/v1/admin/p2p/ads/{ad_id}/cancel", { ...adPath(id), body: { reason } })),
  },
};
