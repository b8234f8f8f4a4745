import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "../test/fakeSocket";
import { P2PStream, type P2PEvent } from "./p2pStream";


const last = () => FakeSocket.all[FakeSocket.all.length - 1]!;
let events: P2PEvent[];
let resyncs: number;
let stream: P2PStream;

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  events = [];
  resyncs = 0;
  stream = new P2PStream({
    url: "ws://x/ws", token: "tok", channels: ["p2p"], WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    onEvent: (e) => events.push(e), onResync: () => resyncs++,
  });
  stream.start();
});

afterEach(() => {
  stream.stop();
  vi.useRealTimers();
});

describe("the private P2P stream", () => {
  it("signs in, then follows the P2P channel; live once subscribed", () => {
    const statuses: boolean[] = [];
    stream.stop();
    stream = new P2PStream({
      url: "ws://x/ws", token: "tok", WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      onEvent: () => undefined, onStatus: (live) => statuses.push(live),
    });
    stream.start();
    last().open();
    expect(last().sent).toEqual([{ op: "auth", token: "tok", request_id: "p2p-auth" }]);
    last().receive({ type: "authenticated", user_id: 7 });
    expect(last().sent.slice(1)).toEqual([{ op: "subscribe", channel: "p2p" }]);
    expect(statuses).toEqual([]);
    last().receive({ type: "error", code: 6001, message: "channel must be one of ..." }); // a server without it
    expect(statuses).toEqual([]);
    last().receive({ type: "subscribed", channel: "p2p" });
    expect(statuses).toEqual([true]);
    last().close();
    expect(statuses).toEqual([true, false]);
  });

  it("passes on P2P events and notifications only", () => {
    last().open();
    last().receive({ type: "authenticated" });
    last().receive({ type: "subscribed", channel: "p2p" });
    last().receive({ type: "p2p_trade", trade_id: 4, state: "paid" });
    last().receive({ type: "p2p_message", trade_id: 4, text: "hi" });
    last().receive({ type: "notification", notification_id: 1 });
    last().receive({ type: "heartbeat" });
    last().receive({ type: "order", event: "filled" });
    expect(events.map((e) => e.type)).toEqual(["p2p_trade", "p2p_message", "notification"]);
  });

  it("reconnects after a drop and asks the page to refetch what it missed", () => {
    last().open();
    last().receive({ type: "authenticated" });
    last().receive({ type: "subscribed", channel: "p2p" });
    expect(resyncs).toBe(0);
    last().close();
    vi.advanceTimersByTime(300);
    expect(FakeSocket.all).toHaveLength(2);
    last().open();
    last().receive({ type: "authenticated" });
    last().receive({ type: "subscribed", channel: "p2p" });
    expect(resyncs).toBe(1);
    expect(last().sent.filter((m) => m.op === "subscribe")).toHaveLength(1);
  });

  it("stays closed once stopped", () => {
    last().open();
    stream.stop();
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
