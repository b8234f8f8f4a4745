// The signed-in user's private P2P stream, kept while signed in: every event marks the
// P2P queries stale (the trade room, my trades and ads, the board, the inbox), shows a
// toast for a trade transition, and a chat line appears in its room at once.
import { create } from "zustand";
import type { QueryClient } from "@tanstack/react-query";
import { P2PStream, type P2PEvent } from "../lib/p2pStream";
import { STATE_LABEL, type TradeMessage, type TradeState } from "../lib/p2p";
import { useAuth } from "./auth";
import { useToasts } from "./toasts";

export const useP2PLive = create<{ live: boolean }>(() => ({ live: false }));

let stream: P2PStream | null = null;
let token: string | null = null;

function socketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/ws`;
}

function tradeIdOf(event: P2PEvent): number | null {
  const id = event.trade_id ?? (event.trade as { trade_id?: unknown } | undefined)?.trade_id;
  return typeof id === "number" ? id : typeof id === "string" && /^\d+$/.test(id) ? Number(id) : null;
}

export function onP2PEvent(event: P2PEvent, queries: QueryClient): void {
  const tradeId = tradeIdOf(event);
  const message = (event.message ?? (event.type === "p2p_message" || event.type === "trade_message" ? event : null)) as TradeMessage | null;
  if (message && tradeId !== null && typeof message.text === "string") {
    queries.setQueryData<TradeMessage[]>(["p2p-messages", tradeId], (old) =>
      old && !old.some((m) => m.message_id === message.message_id) ? [...old, message] : old);
  }
  const state = (event.state ?? event.to_state ?? (event.trade as { state?: unknown } | undefined)?.state) as TradeState | undefined;
  if (event.type.startsWith("p2p_trade") && tradeId !== null && state && state in STATE_LABEL) {
    useToasts.getState().push("info", `Trade ${tradeId}: ${STATE_LABEL[state]}`);
  }
  if (tradeId !== null) {
    void queries.invalidateQueries({ queryKey: ["p2p-trade", tradeId] });
    void queries.invalidateQueries({ queryKey: ["p2p-messages", tradeId] });
  }
  for (const key of ["p2p-trades", "p2p-my-ads", "p2p-board", "notifications", "balances", "p2p-disputes"]) {
    void queries.invalidateQueries({ queryKey: [key] });
  }
}

/** Follow the user's P2P events while signed in (idempotent; a new token re-signs). */
export function syncP2PStream(queries: QueryClient): void {
  const session = useAuth.getState().session;
  const next = session?.accessToken ?? null;
  if (next === token) return;
  stream?.stop();
  stream = null;
  token = next;
  if (!next) {
    useP2PLive.setState({ live: false });
    return;
  }
  stream = new P2PStream({
    url: socketUrl(), token: next, channels: ["p2p"],
    onEvent: (event) => onP2PEvent(event, queries),
    onResync: () => void queries.invalidateQueries(),
    onStatus: (live) => useP2PLive.setState({ live }),
  });
  stream.start();
}
