import { describe, expect, it } from "vitest";
import { LocalBook, depthSeries, ladderRows, spreadOf, type BookDelta, type BookSnapshot } from "./book";

const snap = (update_id: number, bids: [string, string][], asks: [string, string][]): BookSnapshot =>
  ({ type: "book_snapshot", symbol: "BTC-USD", update_id, bids, asks });
const delta = (first: number, last: number, bids: [string, string][] = [], asks: [string, string][] = []): BookDelta =>
  ({ type: "book_delta", symbol: "BTC-USD", first_update_id: first, last_update_id: last, bids, asks });

describe("LocalBook", () => {
  it("replaces the whole book on a snapshot: no level of the old book survives", () => {
    const book = new LocalBook("BTC-USD");
    book.applySnapshot(snap(10, [["100.00", "1"], ["99.00", "2"]], [["101.00", "1"]]));
    book.applySnapshot(snap(20, [["98.00", "3"]], [["102.00", "4"]]));
    expect(book.levels("bids")).toEqual([["98.00", "3"]]);
    expect(book.levels("asks")).toEqual([["102.00", "4"]]);
    expect(book.updateId).toBe(20);
  });

  it("applies contiguous deltas, removes zero levels and ignores stale ones", () => {
    const book = new LocalBook("BTC-USD");
    book.applySnapshot(snap(10, [["100.00", "1"]], [["101.00", "1"]]));
    expect(book.applyDelta(delta(11, 12, [["100.00", "0"], ["99.50", "2"]]))).toBe("applied");
    expect(book.levels("bids")).toEqual([["99.50", "2"]]);
    expect(book.applyDelta(delta(5, 12, [["97.00", "9"]]))).toBe("stale");
    expect(book.levels("bids")).toEqual([["99.50", "2"]]);
    // an overlapping delta (first <= last applied + 1) continues the book
    expect(book.applyDelta(delta(12, 13, [], [["101.00", "3"]]))).toBe("applied");
    expect(book.levels("asks")).toEqual([["101.00", "3"]]);
    expect(book.updateId).toBe(13);
  });

  it("reports a gap and leaves the book untouched", () => {
    const book = new LocalBook("BTC-USD");
    book.applySnapshot(snap(10, [["100.00", "1"]], [["101.00", "1"]]));
    expect(book.applyDelta(delta(12, 12, [["99.00", "5"]]))).toBe("gap");
    expect(book.levels("bids")).toEqual([["100.00", "1"]]);
    expect(book.updateId).toBe(10);
  });

  it("refuses deltas before a snapshot and reports a crossed book", () => {
    const book = new LocalBook("BTC-USD");
    expect(book.applyDelta(delta(1, 1, [["1.00", "1"]]))).toBe("no_snapshot");
    book.applySnapshot(snap(1, [["100.00", "1"]], [["101.00", "1"]]));
    expect(book.applyDelta(delta(2, 2, [["101.00", "1"]]))).toBe("crossed");
  });

  it("sorts prices exactly, best first, whatever their digit count", () => {
    const book = new LocalBook("X");
    book.applySnapshot(snap(1, [["9.99", "1"], ["10.01", "1"], ["100.00", "1"]], [["1000.00", "1"], ["200.50", "1"]]));
    expect(book.levels("bids").map(([p]) => p)).toEqual(["100.00", "10.01", "9.99"]);
    expect(book.levels("asks").map(([p]) => p)).toEqual(["200.50", "1000.00"]);
    expect(book.bestBid()).toBe("100.00");
    expect(book.bestAsk()).toBe("200.50");
    expect(book.levels("bids", 2)).toHaveLength(2);
  });
});

describe("LocalBook best prices", () => {
  it("keeps the best bid and ask right through random deltas (the crossing check scans nothing)", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const book = new LocalBook("X");
    book.applySnapshot(snap(1, [["99.00", "1"], ["98.00", "1"]], [["101.00", "1"], ["102.00", "1"]]));
    let id = 1;
    for (let i = 0; i < 800; i++) {
      // bids 99.00..99.99, asks 100.01..101.00: never crossed; a level removed one time in three
      const bid = (9900 + Math.floor(random() * 100)) / 100;
      const ask = (10001 + Math.floor(random() * 100)) / 100;
      const qty = () => (random() < 0.33 ? "0" : (1 + Math.floor(random() * 9)).toString());
      expect(book.applyDelta(delta(++id, id, [[bid.toFixed(2), qty()]], [[ask.toFixed(2), qty()]]))).toBe("applied");
      expect(book.bestBid()).toBe(book.levels("bids")[0]?.[0]);
      expect(book.bestAsk()).toBe(book.levels("asks")[0]?.[0]);
    }
    // a bid at the best ask crosses, whatever was removed before
    const best = book.bestAsk()!;
    expect(book.applyDelta(delta(++id, id, [[best, "1"]]))).toBe("crossed");
  });

  it("treats any zero spelling as a removal", () => {
    const book = new LocalBook("X");
    book.applySnapshot(snap(1, [["99.00", "1"], ["98.00", "0.000"]], [["101.00", "1"]]));
    expect(book.levels("bids")).toEqual([["99.00", "1"]]);
    book.applyDelta(delta(2, 2, [["99.00", "0.0"]]));
    expect(book.bestBid()).toBeUndefined();
    book.applyDelta(delta(3, 3, [["97.00", "0.10"]]));
    expect(book.bestBid()).toBe("97.00");
  });
});

describe("ladder and depth", () => {
  it("accumulates sizes exactly (no float drift)", () => {
    const rows = ladderRows([["100.00", "0.1"], ["99.00", "0.2"], ["98.00", "0.3"]]);
    expect(rows.map((r) => r.cumulative)).toEqual(["0.1", "0.3", "0.6"]);
    expect(rows[2]!.depthShare).toBe(1);
  });

  it("gives the spread absolute and in percent of the mid", () => {
    expect(spreadOf("99.00", "101.00", 2)).toEqual({ absolute: "2.00", percent: "2.000" });
    expect(spreadOf(undefined, "101.00", 2)).toBeNull();
  });

  it("orders depth points from the lowest bid to the highest ask with cumulative sizes, edges included", () => {
    const { points, domain } = depthSeries([["100.00", "1"], ["99.00", "2"]], [["101.00", "3"], ["102.00", "4"]]);
    // the edges continue the deepest level of each side past it
    expect(points.map((p) => p.price)).toEqual(["99.00", "99.00", "100.00", "101.00", "102.00", "102.00"]);
    expect(points.map((p) => p.cumulative)).toEqual(["3", "3", "1", "3", "7", "7"]);
    expect(points.map((p) => p.x)).toEqual([98.925, 99, 100, 101, 102, 102.075]);
    expect(domain).toEqual([98.925, 102.075]); // centred on the mid, 100.5: 5% past the deepest level
  });

  it("draws a visible area for a single level per side", () => {
    const { points, domain } = depthSeries([["100.00", "0.5"]], [["101.00", "0.25"]]);
    const bid = points.filter((p) => p.bid !== undefined);
    const ask = points.filter((p) => p.ask !== undefined);
    // each side spans a width (two distinct x) at its cumulative size
    expect(new Set(bid.map((p) => p.x)).size).toBe(2);
    expect(new Set(ask.map((p) => p.x)).size).toBe(2);
    expect(bid.every((p) => p.cumulative === "0.5")).toBe(true);
    expect(domain[0]).toBeLessThan(100);
    expect(domain[1]).toBeGreaterThan(101);
  });

  it("keeps a lone far order from squeezing the levels near the mid", () => {
    const bids: [string, string][] = [["100.00", "1"], ["99.50", "1"], ["99.00", "1"], ["98.50", "1"], ["98.00", "1"], ["50.00", "7"]];
    const asks: [string, string][] = [["101.00", "1"], ["101.50", "1"], ["102.00", "1"], ["102.50", "1"], ["103.00", "1"]];
    const { points, domain } = depthSeries(bids, asks);
    expect(domain[0]).toBeGreaterThan(95); // not 50
    expect(domain[0]).toBeLessThan(98);
    expect(points.map((p) => p.price)).not.toContain("50.00");
    expect(points[0]!.cumulative).toBe("5"); // the edge holds the levels shown, not the far one
  });

  it("handles one side only and an empty book", () => {
    expect(depthSeries([], []).points).toEqual([]);
    const { points, domain } = depthSeries([], [["101.00", "1"]]);
    expect(points.map((p) => p.ask)).toEqual([1, 1]);
    expect(domain[0]).toBeLessThan(101);
  });
});
