import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Feed, badgeOf, type FeedView } from "./feed";
import { FakeSocket } from "../test/fakeSocket";


const snapshot = (update_id: number, bids: string[][], asks: string[][]) =>
  ({ type: "book_snapshot", symbol: "BTC-USD", update_id, epoch: "e1", bids, asks });
const delta = (first: number, last: number, bids: string[][] = [], asks: string[][] = []) =>
  ({ type: "book_delta", symbol: "BTC-USD", first_update_id: first, last_update_id: last, bids, asks });
const trade = (id: string) => ({ type: "trade", symbol: "BTC-USD", trade_id: id, price: "100.00", quantity: "1", side: "buy", timestamp_ns: 1 });

let frames: (() => void)[] = [];
let views: FeedView[] = [];
let feed: Feed;

function flush(): FeedView {
  const pending = frames;
  frames = [];
  pending.forEach((run) => run());
  return views[views.length - 1]!;
}

function socket(): FakeSocket {
  return FakeSocket.all[FakeSocket.all.length - 1]!;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  frames = [];
  views = [];
  feed = new Feed({
    url: "ws://test/ws", WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    schedule: (run) => frames.push(run), onView: (v) => views.push(v),
  });
  feed.start("BTC-USD");
  socket().open();
  socket().receive({ type: "subscribed", channel: "book", symbol: "BTC-USD", epoch: "e1", resumed: false });
  socket().receive(snapshot(10, [["100.00", "1"], ["99.00", "2"]], [["101.00", "1"]]));
});

afterEach(() => {
  feed.stop();
  vi.useRealTimers();
});

describe("Feed", () => {
  it("subscribes to every public channel of the symbol on open", () => {
    expect(socket().sent.map((m) => m.channel)).toEqual(["book", "trades", "ticker", "candles"]);
    expect(flush().bids).toEqual([["100.00", "1"], ["99.00", "2"]]);
  });

  it("publishes once per frame however many messages arrive", () => {
    flush();
    const before = views.length;
    for (let i = 11; i < 111; i++) socket().receive(delta(i, i, [["98.00", String(i)]]));
    expect(frames).toHaveLength(1);
    const view = flush();
    expect(views.length).toBe(before + 1);
    expect(view.updateId).toBe(110);
  });

  it("on a gap resubscribes with since and the epoch, once, and resumes without ghosts", () => {
    socket().receive(delta(12, 12, [["98.00", "5"]])); // 11 is missing
    socket().receive(delta(13, 13, [["97.00", "5"]]));
    const resubscribes = socket().subscriptions("book").slice(1);
    expect(resubscribes).toEqual([{ op: "subscribe", channel: "book", symbol: "BTC-USD", since: 10, epoch: "e1" }]);
    expect(flush().bids).toEqual([["100.00", "1"], ["99.00", "2"]]); // untouched while it waits
    socket().receive({ type: "subscribed", channel: "book", symbol: "BTC-USD", epoch: "e1", resumed: true });
    socket().receive(delta(11, 13, [["100.00", "0"], ["98.00", "5"], ["97.00", "5"]]));
    expect(flush().bids).toEqual([["99.00", "2"], ["98.00", "5"], ["97.00", "5"]]);
  });

  it("a snapshot answering the resync replaces the book: no ghost level", () => {
    socket().receive(delta(15, 15, [["98.00", "5"]]));
    socket().receive(snapshot(40, [["95.00", "1"]], [["96.00", "1"]]));
    expect(flush()).toMatchObject({ bids: [["95.00", "1"]], asks: [["96.00", "1"]], updateId: 40 });
  });

  it("a crossed book is cleared and a fresh snapshot asked for", () => {
    socket().receive(delta(11, 11, [["102.00", "1"]]));
    expect(socket().subscriptions("book").at(-1)).toEqual({ op: "subscribe", channel: "book", symbol: "BTC-USD" });
    expect(flush()).toMatchObject({ bids: [], asks: [], synced: false });
  });

  it("reconnects after a dropped socket and resubscribes with since", () => {
    const first = socket();
    first.close();
    expect(flush().status).toBe("reconnecting");
    vi.advanceTimersByTime(10);
    const second = socket();
    expect(second).not.toBe(first);
    second.open();
    expect(second.subscriptions("book")[0]).toMatchObject({ since: 10, epoch: "e1" });
    expect(flush().status).toBe("live");
  });

  it("a new server epoch drops the old book", () => {
    socket().close();
    vi.advanceTimersByTime(10);
    socket().open();
    socket().receive({ type: "subscribed", channel: "book", symbol: "BTC-USD", epoch: "e2", resumed: false });
    expect(flush().synced).toBe(false);
  });

  it("deduplicates trades by id", () => {
    socket().receive(trade("5"));
    socket().receive(trade("5"));
    socket().receive(trade("6"));
    expect(flush().trades.map((t) => t.trade_id)).toEqual(["6", "5"]);
  });

  it("removes cancelled and filled orders from the private stream", () => {
    feed.setToken("token");
    socket().close();
    vi.advanceTimersByTime(10);
    socket().open();
    expect(socket().sent[0]).toEqual({ op: "auth", token: "token", request_id: "auth" });
    socket().receive({ type: "authenticated", user_id: 1 });
    expect(socket().subscriptions("orders")).toHaveLength(1);
    const order = (id: string, status: string) => ({ order_id: id, symbol: "BTC-USD", side: "buy", status, price: "1.00", quantity: "1" });
    socket().receive({ type: "orders_snapshot", orders: [order("1", "new"), order("2", "new")] });
    expect(flush().openOrders.map((o) => o.order_id)).toEqual(["2", "1"]);
    socket().receive({ type: "order", event: "cancelled", order: order("1", "cancelled") });
    socket().receive({ type: "order", event: "filled", order: order("2", "partially_filled") });
    expect(flush().openOrders.map((o) => [o.order_id, o.status])).toEqual([["2", "partially_filled"]]);
    socket().receive({ type: "order", event: "filled", order: order("2", "filled") });
    expect(flush().openOrders).toEqual([]);
  });

  it("keeps the open orders, tape and balances the same objects while only the book moves", () => {
    feed.setToken("token");
    socket().close();
    vi.advanceTimersByTime(10);
    socket().open();
    socket().receive({ type: "authenticated", user_id: 1 });
    const order = { order_id: "1", symbol: "BTC-USD", side: "buy", status: "new", price: "1.00", quantity: "1" };
    socket().receive({ type: "orders_snapshot", orders: [order] });
    socket().receive(snapshot(10, [["99.00", "1"]], [["101.00", "1"]]));
    socket().receive(trade("1"));
    const before = flush();
    socket().receive(delta(11, 11, [["99.00", "2"]]));
    const after = flush();
    expect(after.bids).not.toBe(before.bids); // the book changed
    expect(after.openOrders).toBe(before.openOrders); // nothing else did: no redraw for them
    expect(after.trades).toBe(before.trades);
    socket().receive({ type: "order", event: "cancelled", order: { ...order, status: "cancelled" } });
    expect(flush().openOrders).not.toBe(before.openOrders);
  });

  it("shows the tape a frame after the book when both moved: one costly redraw per frame, nothing lost", () => {
    flush();
    socket().receive(delta(11, 11, [["98.00", "4"]]));
    socket().receive(trade("7"));
    expect(frames).toHaveLength(1);
    const first = flush();
    expect(first.bids).toContainEqual(["98.00", "4"]); // the book now
    expect(first.trades.map((t) => t.trade_id)).toEqual([]); // the tape not yet
    expect(frames).toHaveLength(1); // ... but on the very next frame
    socket().receive(delta(12, 12, [["97.00", "5"]])); // arrives in between: waits its turn
    socket().receive(trade("8"));
    const second = flush();
    expect(second.trades.map((t) => t.trade_id)).toEqual(["8", "7"]);
    expect(second.bids).toBe(first.bids); // the book is not redrawn with the tape
    expect(frames).toHaveLength(1); // the later delta has its own frame
    const third = flush();
    expect(third.bids).toContainEqual(["97.00", "5"]);
    expect(third.trades.map((t) => t.trade_id)).toEqual(["8", "7"]);
    expect(frames).toHaveLength(0); // and nothing more is due
  });

  it("shows a tape that alone moved on the same frame", () => {
    flush();
    socket().receive(trade("9"));
    expect(flush().trades.map((t) => t.trade_id)).toEqual(["9"]);
    expect(frames).toHaveLength(0);
  });

  it("publishes no more often than minIntervalMs, merging what arrives between", () => {
    let clock = 1000;
    const seen: FeedView[] = [];
    const paced = new Feed({
      url: "ws://test/ws", WebSocketImpl: FakeSocket as unknown as typeof WebSocket, now: () => clock,
      schedule: (run) => run(), onView: (v) => seen.push(v), minIntervalMs: 100,
    });
    paced.start("BTC-USD");
    const link = socket();
    link.open();
    link.receive(snapshot(10, [["99.00", "1"]], [["101.00", "1"]]));
    const before = seen.length;
    for (let id = 11; id <= 30; id++) {
      clock += 2; // 20 deltas in 40 ms
      link.receive(delta(id, id, [["99.00", String(id)]]));
    }
    expect(seen.length - before).toBeLessThanOrEqual(1); // at most the one already due
    clock += 100;
    vi.advanceTimersByTime(100);
    const last = seen[seen.length - 1]!;
    expect(last.updateId).toBe(30); // nothing is lost: the latest book is shown
    expect(last.bids).toEqual([["99.00", "30"]]);
    expect(seen.length - before).toBeLessThanOrEqual(2);
    paced.stop();
  });

  it("pings a quiet link and drops a dead one", () => {
    vi.advanceTimersByTime(2500);
    expect(socket().sent.some((m) => m.op === "ping")).toBe(true);
    const dead = socket();
    vi.advanceTimersByTime(25000);
    expect(dead.readyState).toBe(3);
  });
});

describe("badgeOf", () => {
  it("is live with fresh data, stale with its age, reconnecting without a link", () => {
    expect(badgeOf("live", 1000, 2000)).toEqual({ kind: "live" });
    expect(badgeOf("live", 1000, 8500)).toEqual({ kind: "stale", seconds: 7 });
    expect(badgeOf("reconnecting", 1000, 1000)).toEqual({ kind: "reconnecting" });
  });
});
