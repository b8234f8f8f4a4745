// The streamed market state (book, tape, ticker, candle, own orders and balances): one
// Feed per page, published into this store at most once per animation frame.
import { create } from "zustand";
import type { QueryClient } from "@tanstack/react-query";
import { Feed, type FeedView, type OrderEvent } from "../lib/feed";
import { api } from "../api/client";
import { useAuth } from "./auth";
import { useToasts } from "./toasts";
import { sentence } from "../lib/errors";

export const EMPTY_VIEW: FeedView = {
  symbol: "", bids: [], asks: [], updateId: -1, synced: false, trades: [], ticker: null, candle: null,
  interval: "1m", openOrders: [], balances: null, status: "offline", lastMessageAt: 0, signedIn: false, resyncs: 0,
};

export const useMarket = create<{ view: FeedView }>(() => ({ view: EMPTY_VIEW }));

let feed: Feed | null = null;

function socketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/ws`;
}

function describe(event: OrderEvent): { kind: "info" | "success" | "error"; text: string } | null {
  const o = event.order;
  const what = o ? `${o.side === "buy" ? "Buy" : "Sell"} ${o.quantity} ${o.symbol}${o.price ? ` @ ${o.price}` : ""}` : "Order";
  switch (event.event) {
    case "accepted": return { kind: "info", text: `Accepted: ${what}` };
    case "filled": return { kind: "success", text: `${o?.status === "filled" ? "Filled" : "Partially filled"}: ${event.fill?.quantity ?? ""} @ ${event.fill?.price ?? ""} (${what})` };
    case "cancelled": return { kind: "info", text: `Cancelled: ${what}` };
    case "expired": return { kind: "info", text: `Expired: ${what}` };
    case "triggered": return { kind: "info", text: `Stop triggered: ${what}` };
    case "amended": return { kind: "info", text: `Amended: ${what}` };
    case "rejected": return { kind: "error", text: `Rejected: ${sentence(event.code ?? 0, event.message)}` };
    default: return null;
  }
}

/** Start the page's feed (idempotent); private events refresh the REST queries. */
export function startFeed(symbol: string, interval: string, queries: QueryClient): Feed {
  if (feed) {
    feed.setSymbol(symbol);
    feed.setInterval(interval);
    return feed;
  }
  let invalidate: ReturnType<typeof setTimeout> | null = null;
  feed = new Feed({
    url: socketUrl(),
    // ten views a second at most (as exchanges pace their depth streams): a busy book
    // changes hundreds of times a second, and a ladder redrawn faster is not read faster
    minIntervalMs: 100,
    onView: (view) => useMarket.setState({ view }),
    loadTrades: (s) => api.trades(s),
    onOrderEvent: (event) => {
      const toast = describe(event);
      if (toast) useToasts.getState().push(toast.kind, toast.text);
      if (invalidate) clearTimeout(invalidate);
      invalidate = setTimeout(() => {
        void queries.invalidateQueries({ queryKey: ["orders"] });
        void queries.invalidateQueries({ queryKey: ["fills"] });
        void queries.invalidateQueries({ queryKey: ["ledger"] });
      }, 300);
    },
    onError: (code, message) => useToasts.getState().push("error", sentence(code, message)),
  });
  feed.setToken(useAuth.getState().session?.accessToken ?? null);
  feed.start(symbol, interval);
  useAuth.subscribe((state) => feed?.setToken(state.session?.accessToken ?? null));
  return feed;
}

export function stopFeed(): void {
  feed?.stop();
  feed = null;
}
