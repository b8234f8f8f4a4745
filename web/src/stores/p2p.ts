// The signed-in user's private P2P stream, kept while signed in: every event marks the
// P2P queries stale (the trade room, my trades and ads, the board, the inbox), shows a
// toast for a trade transition, and a chat line appears in its room at once.
import { create } from "zustand";
import type { QueryClient } from "@tanstack/react-query";
import { P2PStream, type P2PEvent } from "../lib/p2pStream";
import { addMessage, STATE_LABEL, type TradeMessage, type TradeView } from "../lib/p2p";
import { useAuth } from "./auth";
import { useToasts } from "./toasts";

export const useP2PLive = create<{ live: boolean }>(() => ({ live: false }));

/** How often a P2P query polls: rarely while the stream tells us about changes, often
 * when it is down (or the server has no p2p channel). */
export function usePoll(liveMs: number, fallbackMs = 4000): number {
  return useP2PLive((s) => (s.live ? liveMs : fallbackMs));
}

let stream: P2PStream | null = null;
let token: string | null = null;

function socketUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/ws`;
}

function tradeIdOf(event: P2PEvent): number | null {
  const holder = (event.trade ?? event.message ?? event.notification ?? event) as { trade_id?: unknown };
  return typeof holder.trade_id === "number" ? holder.trade_id : null;
}

/** One frame of the p2p channel: ``p2p_trade`` {trade}, ``p2p_message`` {message},
 * ``p2p_ad`` {ad}, ``notification`` {notification}, ``p2p_snapshot`` {trades}, and for
 * administrators ``p2p_dispute`` {event, trade} (the dispute queue moved). */
export function onP2PEvent(event: P2PEvent, queries: QueryClient): void {
  const tradeId = tradeIdOf(event);
  if (event.type === "p2p_message" && tradeId !== null) {
    const message = event.message as TradeMessage;
    queries.setQueryData<TradeMessage[]>(["p2p-messages", tradeId], (old) => (old ? addMessage(old, message) : old));
    return; // a chat line changes nothing else
  }
  if (event.type === "p2p_trade" && tradeId !== null) {
    const trade = event.trade as TradeView;
    if (trade.state in STATE_LABEL) useToasts.getState().push("info", `Trade ${tradeId}: ${STATE_LABEL[trade.state]}`);
  }
  if (event.type === "p2p_dispute" && tradeId !== null) {
    const trade = event.trade as TradeView & { dispute?: { proposed_outcome?: string | null; proposed_by?: number | null } | null };
    const text = event.event === "opened" ? `Trade ${tradeId}: a new dispute in the queue`
      : event.event === "proposed" ? `Trade ${tradeId}: admin #${trade.dispute?.proposed_by ?? "?"} proposed to ${trade.dispute?.proposed_outcome === "release" ? "release to the buyer" : "refund the seller"}; a second admin must approve`
        : `Trade ${tradeId}: dispute closed (${STATE_LABEL[trade.state] ?? trade.state})`;
    useToasts.getState().push("info", text);
  }
  if (tradeId !== null) void queries.invalidateQueries({ queryKey: ["p2p-trade", tradeId] });
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
