// The typed REST client: openapi-fetch over the paths generated from the server's
// OpenAPI (schema.d.ts). Request parameters and bodies are checked against the schema;
// where the server does not (yet) describe a response, the wrappers below name the type
// the route returns (see src/lib/*.ts), in one place, until the schema does.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { ApiError, toApiError } from "../lib/errors";
import type { AssetInfo, Balance, SymbolInfo } from "../lib/market";
import type { Candle, Fill, OrderView, Ticker } from "../lib/feed";
import type { TapeTrade } from "../lib/tape";
import type { Level } from "../lib/book";

export const client = createClient<paths>({ baseUrl: "" });

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAtMs: number;
  userId: number;
  role: string;
  email: string;
}

interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user_id: number;
  role: string;
}

// The session lives in the auth store; the client asks it for the token and tells it
// when a refresh rotated the tokens.
let sessionSource: () => Session | null = () => null;
let sessionSink: (session: Session | null) => void = () => undefined;

export function bindSession(get: () => Session | null, set: (session: Session | null) => void): void {
  sessionSource = get;
  sessionSink = set;
}

client.use({
  onRequest({ request }) {
    const session = sessionSource();
    if (session && !request.headers.has("authorization")) {
      request.headers.set("authorization", `Bearer ${session.accessToken}`);
    }
    return request;
  },
});

type Answer<T> = Promise<{ data?: T; error?: unknown; response: Response }>;

let refreshing: Promise<Session | null> | null = null;

/** Exchange the refresh token for a new pair (once at a time); null when it failed. */
export function refreshSession(): Promise<Session | null> {
  const session = sessionSource();
  if (!session) return Promise.resolve(null);
  refreshing ??= (async () => {
    const { data, error } = await client.POST("/api/v1/auth/refresh", { body: { refresh_token: session.refreshToken } });
    if (error || !data) {
      sessionSink(null);
      return null;
    }
    const next = toSession(data as unknown as TokenPair, session.email);
    sessionSink(next);
    return next;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export function toSession(pair: TokenPair, email: string): Session {
  return {
    accessToken: pair.access_token, refreshToken: pair.refresh_token,
    expiresAtMs: Date.now() + pair.expires_in * 1000, userId: pair.user_id, role: pair.role, email,
  };
}

/** The data of a successful answer, else an ApiError with the server's sentence; an
 * expired access token is refreshed once and the request repeated. */
async function call<T>(request: () => Answer<unknown>): Promise<T> {
  let answer = await request();
  if (answer.response.status === 401 && sessionSource()) {
    const body = answer.error as { code?: number } | undefined;
    if (body?.code === 5002 || body?.code === 5003) {
      if (await refreshSession()) answer = await request();
    }
  }
  if (answer.error !== undefined || !answer.response.ok) throw toApiError(answer.response.status, answer.error);
  return answer.data as T;
}

export { ApiError };

export interface Me { user_id: number; email: string; role: string; suspended: boolean; scopes: string[] }
export interface Depth { symbol: string; last_update_id: number; bids: Level[]; asks: Level[] }
export interface HistoryOrder extends OrderView { created_ns: number; updated_ns: number; cancel_reason: string | null; fee: string; fee_asset: string }
export interface UserFill extends Fill { order_id: string; symbol: string; side: "buy" | "sell"; timestamp_ns: number }
export interface PlacedOrder extends OrderView { cancel_reason: string | null; fills: Fill[] }
export interface LedgerEntry {
  seq: number; index: number; asset: string; amount: string; available_change: string; held_change: string;
  debit: string; credit: string; reason: string; reference: string; timestamp_ns: number;
}
export interface ApiKey { api_key_id: number; scopes: string[]; label: string; created_ns: number }
export interface NewApiKey { api_key_id: number; api_key: string; scopes: string[]; label: string }
export interface Withdrawal { withdrawal_id: number; user_id?: number; asset: string; amount: string; destination: string; status: string }
export interface AdminUser { user_id: number; email: string; role: string; suspended: boolean; open_orders: number }
export interface AuditEntry { seq: number; timestamp_ns: number; user_id: number | null; command_type: string; command: Record<string, unknown>; result_code: number; event_count: number }
export type Scope = "read" | "trade" | "withdraw";
type Schemas = components["schemas"];
export type AdminHealth = Schemas["AdminHealth"];
export type AdminOrder = Schemas["AdminOrder"];
export type AdminOrders = Schemas["AdminOrders"];
export type AdminTrade = Schemas["AdminTrade"];
export type AdminTrades = Schemas["AdminTrades"];
type AdminOrdersQuery = NonNullable<paths["/api/v1/admin/orders"]["get"]["parameters"]["query"]>;
export type AdminOrderStatus = NonNullable<AdminOrdersQuery["status"]>;
/** The filters of the administrators' order and trade lists (empty: all). */
export interface AdminFilter { userId?: number; symbol?: string; status?: AdminOrderStatus; cursor?: string; limit?: number }
/** The candle intervals the server takes (an enum in its OpenAPI). */
export type CandleInterval = NonNullable<NonNullable<paths["/api/v1/candles"]["get"]["parameters"]["query"]>["interval"]>;

export const api = {
  symbols: () => call<SymbolInfo[]>(() => client.GET("/api/v1/symbols")),
  assets: () => call<AssetInfo[]>(() => client.GET("/api/v1/assets")),
  depth: (symbol: string, limit = 50) => call<Depth>(() => client.GET("/api/v1/depth", { params: { query: { symbol, limit } } })),
  trades: (symbol: string, limit = 80) => call<TapeTrade[]>(() => client.GET("/api/v1/trades", { params: { query: { symbol, limit } } })),
  ticker: (symbol: string) => call<Ticker>(() => client.GET("/api/v1/ticker", { params: { query: { symbol } } })),
  candles: (symbol: string, interval: string, limit = 500) =>
    call<Candle[]>(() => client.GET("/api/v1/candles", { params: { query: { symbol, interval: interval as CandleInterval, limit } } })),

  signUp: (email: string, password: string) =>
    call<{ user_id: number; email: string; role: string }>(() => client.POST("/api/v1/auth/signup", { body: { email, password } })),
  logIn: async (email: string, password: string) =>
    toSession(await call<TokenPair>(() => client.POST("/api/v1/auth/login", { body: { email, password } })), email),
  me: () => call<Me>(() => client.GET("/api/v1/me")),

  openOrders: (symbol?: string) =>
    call<OrderView[]>(() => client.GET("/api/v1/orders", { params: { query: { status: "open", ...(symbol ? { symbol } : {}) } } })),
  orderHistory: (symbol?: string, limit = 100) =>
    call<HistoryOrder[]>(() => client.GET("/api/v1/orders", { params: { query: { status: "closed", limit, ...(symbol ? { symbol } : {}) } } })),
  fills: (symbol?: string, limit = 100) =>
    call<UserFill[]>(() => client.GET("/api/v1/fills", { params: { query: { limit, ...(symbol ? { symbol } : {}) } } })),
  placeOrder: (body: Record<string, unknown>) =>
    // the body is built by lib/orderForm.ts (orderBody) from a validated draft
    call<PlacedOrder>(() => client.POST("/api/v1/orders", { body: body as never })),
  amendOrder: (orderId: string, change: { price?: string; quantity?: string }) =>
    call<OrderView & { priority_kept: boolean }>(() =>
      client.PATCH("/api/v1/orders/{order_id}", { params: { path: { order_id: Number(orderId) } }, body: change })),
  cancelOrder: (orderId: string) =>
    call<{ order_id: string; status: string }>(() => client.DELETE("/api/v1/orders/{order_id}", { params: { path: { order_id: Number(orderId) } } })),
  cancelAll: (symbol?: string) =>
    call<{ cancelled: string[]; count: number }>(() => client.DELETE("/api/v1/orders", { params: { query: symbol ? { symbol } : {} } })),

  balances: () => call<Balance[]>(() => client.GET("/api/v1/balances")),
  ledger: (asset?: string, limit = 200, beforeSeq?: number) =>
    call<LedgerEntry[]>(() => client.GET("/api/v1/ledger", { params: { query: { limit, ...(asset ? { asset } : {}), ...(beforeSeq ? { before_seq: beforeSeq } : {}) } } })),
  address: (asset: string) =>
    call<{ asset: string; address: string }>(() => client.POST("/api/v1/wallets/{asset}/address", { params: { path: { asset } } })),
  withdraw: (asset: string, amount: string, destination: string) =>
    call<Withdrawal>(() => client.POST("/api/v1/withdrawals", { body: { asset, amount, destination } })),
  transfer: (asset: string, amount: string, to_address: string) =>
    call<{ transfer_id: number; asset: string; to_address: string; amount: string }>(() =>
      client.POST("/api/v1/transfers", { body: { asset, amount, to_address } })),

  apiKeys: () => call<ApiKey[]>(() => client.GET("/api/v1/api-keys")),
  createApiKey: (scopes: Scope[], label: string) => call<NewApiKey>(() => client.POST("/api/v1/api-keys", { body: { scopes, label } })),
  revokeApiKey: (id: number) => call<{ api_key_id: number; revoked: boolean }>(() =>
    client.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: id } } })),

  admin: {
    users: (limit = 200, offset = 0) => call<AdminUser[]>(() => client.GET("/api/v1/admin/users", { params: { query: { limit, offset } } })),
    suspend: (id: number) => call<unknown>(() => client.POST("/api/v1/admin/users/{user_id}/suspend", { params: { path: { user_id: id } } })),
    reinstate: (id: number) => call<unknown>(() => client.POST("/api/v1/admin/users/{user_id}/reinstate", { params: { path: { user_id: id } } })),
    deposit: (user_id: number, asset: string, amount: string, reference = "") =>
      call<{ deposit_id: number }>(() => client.POST("/api/v1/admin/deposits", { body: { user_id, asset, amount, reference } })),
    adjust: (user_id: number, asset: string, amount: string, reason: string) =>
      call<unknown>(() => client.POST("/api/v1/admin/adjustments", { body: { user_id, asset, amount, reason } })),
    withdrawals: () => call<Withdrawal[]>(() => client.GET("/api/v1/admin/withdrawals")),
    approve: (id: number) => call<unknown>(() => client.POST("/api/v1/admin/withdrawals/{withdrawal_id}/approve", { params: { path: { withdrawal_id: id } } })),
    reject: (id: number, reason: string) =>
      call<unknown>(() => client.POST("/api/v1/admin/withdrawals/{withdrawal_id}/reject", { params: { path: { withdrawal_id: id } }, body: { reason } })),
    halt: (symbol: string) => call<unknown>(() => client.POST("/api/v1/admin/symbols/{symbol}/halt", { params: { path: { symbol } } })),
    resume: (symbol: string) => call<unknown>(() => client.POST("/api/v1/admin/symbols/{symbol}/resume", { params: { path: { symbol } } })),
    audit: (limit = 100) => call<AuditEntry[]>(() => client.GET("/api/v1/admin/audit", { params: { query: { limit } } })),
    health: () => call<AdminHealth>(() => client.GET("/api/v1/admin/health")),
    orders: (f: AdminFilter) => call<AdminOrders>(() => client.GET("/api/v1/admin/orders", { params: { query: {
      limit: f.limit ?? 100, ...(f.userId ? { user_id: f.userId } : {}), ...(f.symbol ? { symbol: f.symbol } : {}),
      ...(f.status ? { status: f.status } : {}), ...(f.cursor ? { cursor: f.cursor } : {}),
    } } })),
    trades: (f: AdminFilter) => call<AdminTrades>(() => client.GET("/api/v1/admin/trades", { params: { query: {
      limit: f.limit ?? 100, ...(f.userId ? { user_id: f.userId } : {}), ...(f.symbol ? { symbol: f.symbol } : {}),
      ...(f.cursor ? { cursor: f.cursor } : {}),
    } } })),
  },
};

/** POST /api/simulation (the simulator's endpoint): not in the schema until it lands,
 * so a plain typed fetch. A 404 means the server has no simulator. */
export interface SimulationResult {
  orders: number;
  trades: number;
  throughput: number;
  p50: number;
  p99: number;
  p999: number;
  latency_histogram: { le: number; count: number }[];
  throughput_series: { t: number; value: number }[];
  [key: string]: unknown;
}

export async function runSimulation(numOrders: number): Promise<unknown> {
  const session = sessionSource();
  const response = await fetch("/api/simulation", {
    method: "POST",
    headers: { "content-type": "application/json", ...(session ? { authorization: `Bearer ${session.accessToken}` } : {}) },
    body: JSON.stringify({ num_orders: numOrders }),
  });
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw toApiError(response.status, body);
  return body;
}
