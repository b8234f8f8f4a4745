import { beforeEach, describe, expect, it, vi } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { onP2PEvent } from "./p2p";
import { useToasts } from "./toasts";
import type { TradeMessage } from "../lib/p2p";

const line = (seq: number, text: string, author: TradeMessage["author"] = "seller"): TradeMessage =>
  ({ seq, message_id: author === "system" ? null : seq, trade_id: 5, user_id: author === "system" ? null : 1, author, text, at: "2026-12-03T12:00:00Z" });

let queries: QueryClient;
beforeEach(() => {
  queries = new QueryClient();
  useToasts.setState({ toasts: [] });
});

describe("the p2p stream's frames", () => {
  it("a chat line appears in its room at once, once", () => {
    queries.setQueryData(["p2p-messages", 5], [line(1, "hello")]);
    onP2PEvent({ type: "p2p_message", seq: 2, message: line(2, "paid now") }, queries);
    onP2PEvent({ type: "p2p_message", seq: 2, message: line(2, "paid now") }, queries); // a repeat
    onP2PEvent({ type: "p2p_message", seq: 3, message: line(3, "The buyer marked the trade paid.", "system") }, queries);
    expect(queries.getQueryData<TradeMessage[]>(["p2p-messages", 5])!.map((m) => m.text))
      .toEqual(["hello", "paid now", "The buyer marked the trade paid."]);
    // another room is untouched
    expect(queries.getQueryData(["p2p-messages", 6])).toBeUndefined();
  });

  it("a transition refreshes the room and the lists, with a toast", () => {
    const spy = vi.spyOn(queries, "invalidateQueries");
    onP2PEvent({ type: "p2p_trade", seq: 9, event: "changed", from_state: "pending_payment", trade: { trade_id: 5, state: "paid" } }, queries);
    const keys = spy.mock.calls.map((c) => JSON.stringify(c[0]?.queryKey));
    expect(keys).toContain(JSON.stringify(["p2p-trade", 5]));
    expect(keys).toContain(JSON.stringify(["p2p-trades"]));
    expect(keys).toContain(JSON.stringify(["balances"]));
    expect(useToasts.getState().toasts.map((t) => t.text)).toEqual(["Trade 5: Paid: waiting for release"]);
  });

  it("a dispute pushed to an administrator refreshes the queue and the trade, and says what happened", () => {
    const spy = vi.spyOn(queries, "invalidateQueries");
    onP2PEvent({ type: "p2p_dispute", seq: 11, event: "proposed", trade_id: 5,
      trade: { trade_id: 5, state: "disputed", dispute: { proposed_outcome: "refund", proposed_by: 7 } } }, queries);
    const keys = spy.mock.calls.map((c) => JSON.stringify(c[0]?.queryKey));
    expect(keys).toContain(JSON.stringify(["p2p-disputes"]));
    expect(keys).toContain(JSON.stringify(["p2p-trade", 5]));
    expect(useToasts.getState().toasts.map((t) => t.text))
      .toEqual(["Trade 5: admin #7 proposed to refund the seller; a second admin must approve"]);
  });

  it("a notification refreshes the inbox", () => {
    const spy = vi.spyOn(queries, "invalidateQueries");
    onP2PEvent({ type: "notification", seq: 10, notification: { notification_id: 3, trade_id: 5, text: "x" } }, queries);
    expect(spy.mock.calls.map((c) => JSON.stringify(c[0]?.queryKey))).toContain(JSON.stringify(["notifications"]));
  });
});
