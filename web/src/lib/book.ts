// The local order book kept from the `book` channel: a snapshot replaces the book, deltas
// apply only in update-id order, and anything else (a gap, a crossed book) asks for a
// resync: the socket then resubscribes with `since` or takes a fresh snapshot.
import { Decimal, dec, priceKey } from "./decimal";

export type Level = [price: string, quantity: string];

export interface BookSnapshot {
  type: "book_snapshot";
  symbol: string;
  update_id: number;
  epoch?: string;
  bids: Level[];
  asks: Level[];
}

export interface BookDelta {
  type: "book_delta";
  symbol: string;
  first_update_id: number;
  last_update_id: number;
  bids: Level[];
  asks: Level[];
}

export type DeltaOutcome = "applied" | "stale" | "gap" | "crossed" | "no_snapshot";

export class LocalBook {
  readonly symbol: string;
  bids = new Map<string, string>();
  asks = new Map<string, string>();
  /** Each price's exact sort key, parsed once (not on every best-price or sort). */
  private keys = new Map<string, bigint>();
  updateId = -1;
  epoch: string | undefined;
  /** Bumped on every change: views recompute only when it moved. */
  version = 0;
  /** The best price of each side as last found, or null when it must be looked for again
   * (the best level left): a delta checks the book for crossing without a scan of it. */
  private bestCache: { bids: string | undefined | null; asks: string | undefined | null } = { bids: null, asks: null };

  constructor(symbol: string) {
    this.symbol = symbol;
  }

  get synced(): boolean {
    return this.updateId >= 0;
  }

  /** Replace the whole book (never merge: a level absent from the snapshot is gone). */
  applySnapshot(snapshot: BookSnapshot): void {
    this.bids = new Map(snapshot.bids.filter(([, q]) => !isZero(q)));
    this.asks = new Map(snapshot.asks.filter(([, q]) => !isZero(q)));
    this.bestCache = { bids: null, asks: null };
    this.updateId = snapshot.update_id;
    if (snapshot.epoch !== undefined) this.epoch = snapshot.epoch;
    this.version++;
  }

  /** Apply a delta if it continues the book; "stale" ones (already applied) are ignored,
   * a "gap" leaves the book untouched, a delta that would cross it is refused. */
  applyDelta(delta: BookDelta): DeltaOutcome {
    if (!this.synced) return "no_snapshot";
    if (delta.last_update_id <= this.updateId) return "stale";
    if (delta.first_update_id > this.updateId + 1) return "gap";
    for (const [price, qty] of delta.bids) this.setLevel("bids", price, qty);
    for (const [price, qty] of delta.asks) this.setLevel("asks", price, qty);
    this.updateId = delta.last_update_id;
    this.version++;
    return this.crossed() ? "crossed" : "applied";
  }

  /** Forget everything (before a resync): no level survives to become a ghost. */
  clear(): void {
    this.bids.clear();
    this.asks.clear();
    this.bestCache = { bids: null, asks: null };
    this.updateId = -1;
    this.version++;
  }

  /** Best first: bids high to low, asks low to high; at most ``limit`` levels. O(n log n). */
  levels(side: "bids" | "asks", limit = Infinity): Level[] {
    const entries = [...(side === "bids" ? this.bids : this.asks).entries()];
    const sorted = entries
      .map((e) => [this.key(e[0]), e] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([, e]) => e as Level);
    if (side === "bids") sorted.reverse();
    return sorted.slice(0, limit);
  }

  bestBid(): string | undefined {
    if (this.bestCache.bids === null) this.bestCache.bids = this.best(this.bids, "max");
    return this.bestCache.bids;
  }

  bestAsk(): string | undefined {
    if (this.bestCache.asks === null) this.bestCache.asks = this.best(this.asks, "min");
    return this.bestCache.asks;
  }

  /** Set or remove one level, keeping the best price known when it can be: a better
   * price becomes the best, removing the best means looking for it again. */
  private setLevel(side: "bids" | "asks", price: string, qty: string): void {
    const levels = side === "bids" ? this.bids : this.asks;
    const best = this.bestCache[side];
    if (isZero(qty)) {
      if (levels.delete(price) && best === price) this.bestCache[side] = null;
      return;
    }
    levels.set(price, qty);
    if (best === null) return; // unknown: found on demand
    if (best === undefined) {
      this.bestCache[side] = price; // the side was empty
      return;
    }
    const k = this.key(price);
    const b = this.key(best);
    if (side === "bids" ? k > b : k < b) this.bestCache[side] = price;
  }

  crossed(): boolean {
    const bid = this.bestBid();
    const ask = this.bestAsk();
    return bid !== undefined && ask !== undefined && this.key(bid) >= this.key(ask);
  }

  private key(price: string): bigint {
    let k = this.keys.get(price);
    if (k === undefined) {
      k = priceKey(price);
      if (this.keys.size > 100_000) this.keys.clear(); // a bounded cache over a long session
      this.keys.set(price, k);
    }
    return k;
  }

  /** O(levels), with no parsing. */
  private best(side: Map<string, string>, pick: "max" | "min"): string | undefined {
    let found: string | undefined;
    let key = 0n;
    for (const price of side.keys()) {
      const k = this.key(price);
      if (found === undefined || (pick === "max" ? k > key : k < key)) {
        found = price;
        key = k;
      }
    }
    return found;
  }
}

/** A decimal string is zero when it has no digit but zeros ("0", "0.000"): no parse. */
function isZero(qty: string): boolean {
  return !/[1-9]/.test(qty);
}

export interface LadderRow {
  price: string;
  quantity: string;
  cumulative: string;
  /** Share of the largest cumulative size shown (0..1): bar widths only. */
  depthShare: number;
  sizeShare: number;
}

/** Ladder rows with cumulative size, best first, for one side. */
export function ladderRows(levels: Level[], maxCumulative?: Decimal): LadderRow[] {
  let running = new Decimal(0);
  const cumulative = levels.map(([, q]) => (running = running.plus(q)));
  const top = maxCumulative ?? running;
  const largest = levels.reduce((m, [, q]) => Decimal.max(m, q), new Decimal(0));
  return levels.map(([price, quantity], i) => ({
    price,
    quantity,
    cumulative: cumulative[i]!.toFixed(),
    depthShare: top.isZero() ? 0 : cumulative[i]!.div(top).toNumber(),
    sizeShare: largest.isZero() ? 0 : dec(quantity).div(largest).toNumber(),
  }));
}

export interface Spread {
  absolute: string;
  percent: string | null;
}

export function spreadOf(bid: string | undefined, ask: string | undefined, decimals: number): Spread | null {
  if (bid === undefined || ask === undefined) return null;
  const a = dec(ask);
  const b = dec(bid);
  const mid = a.plus(b).div(2);
  return {
    absolute: a.minus(b).toFixed(decimals),
    percent: mid.isZero() ? null : a.minus(b).div(mid).mul(100).toFixed(3),
  };
}

export interface DepthPoint {
  /** Chart geometry only (a plotting coordinate, never an amount that is computed on). */
  x: number;
  bid?: number;
  ask?: number;
  price: string;
  cumulative: string;
}

export interface DepthSeries {
  points: DepthPoint[];
  /** The x range, centred on the mid price, so both sides show at the same scale. */
  domain: [number, number];
}

/** Cumulative depth as step areas, lowest price first. A bid at price p holds the size
 * of every bid at p or above: the bid area is flat from one level to the next lower one
 * (draw with stepBefore) and runs on to the left edge past the last level shown; the
 * ask area likewise from each ask up to the next (stepAfter) and on to the right edge.
 * So even a single level per side has a visible area, and the best level's size shows.
 * The edges sit at the same distance from the mid on both sides: far enough for nine
 * levels in ten (a lone order far away does not squeeze the rest into a sliver). */
export function depthSeries(bids: Level[], asks: Level[]): DepthSeries {
  const bestBid = bids[0] ? dec(bids[0][0]) : null;
  const bestAsk = asks[0] ? dec(asks[0][0]) : null;
  if (!bestBid && !bestAsk) return { points: [], domain: [0, 1] };
  const mid = bestBid && bestAsk ? bestBid.plus(bestAsk).div(2) : (bestBid ?? bestAsk)!;
  const distances = [...bids.map(([p]) => mid.minus(p)), ...asks.map(([p]) => dec(p).minus(mid))]
    .sort((a, b) => a.comparedTo(b));
  let half = distances[Math.max(0, Math.ceil(0.9 * distances.length) - 1)]!.mul("1.05"); // room past the level
  if (half.isZero()) half = mid.isZero() ? new Decimal(1) : mid.mul("0.001");
  const left = mid.minus(half);
  const right = mid.plus(half);

  const points: DepthPoint[] = [];
  let sum = new Decimal(0);
  const bidPoints: DepthPoint[] = [];
  for (const [price, qty] of bids) {
    if (dec(price).lt(left)) break; // beyond the edge: not drawn, not counted at the edge
    sum = sum.plus(qty);
    bidPoints.push({ x: dec(price).toNumber(), bid: sum.toNumber(), price, cumulative: sum.toFixed() });
  }
  if (bidPoints.length) {
    const deepest = bidPoints[bidPoints.length - 1]!;
    points.push({ ...deepest, x: left.toNumber() }, ...bidPoints.reverse());
  }
  sum = new Decimal(0);
  const askPoints: DepthPoint[] = [];
  for (const [price, qty] of asks) {
    if (dec(price).gt(right)) break;
    sum = sum.plus(qty);
    askPoints.push({ x: dec(price).toNumber(), ask: sum.toNumber(), price, cumulative: sum.toFixed() });
  }
  if (askPoints.length) points.push(...askPoints, { ...askPoints[askPoints.length - 1]!, x: right.toNumber() });
  return { points, domain: [left.toNumber(), right.toNumber()] };
}
