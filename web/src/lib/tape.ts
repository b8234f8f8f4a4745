// The trade tape: newest first, at most `capacity` rows, each trade id once (a trade
// seen twice, by a resubscription or a duplicated frame, is dropped).
export interface TapeTrade {
  trade_id: string;
  price: string;
  quantity: string;
  side: "buy" | "sell";
  timestamp_ns: number;
}

export class Tape {
  readonly capacity: number;
  trades: TapeTrade[] = [];
  private seen = new Set<string>();
  version = 0;

  constructor(capacity = 100) {
    this.capacity = capacity;
  }

  /** Add trades (any order); returns how many were new. */
  add(incoming: TapeTrade[]): number {
    const fresh = incoming.filter((t) => {
      if (this.seen.has(t.trade_id)) return false;
      this.seen.add(t.trade_id);
      return true;
    });
    if (fresh.length === 0) return 0;
    // each id parsed once (not at every comparison of the sort); newest first
    const keyed = [...fresh, ...this.trades].map((t) => [idKey(t.trade_id), t] as const);
    keyed.sort((a, b) => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0));
    const merged = keyed.map(([, t]) => t);
    const dropped = merged.splice(this.capacity);
    for (const t of dropped) this.seen.delete(t.trade_id);
    this.trades = merged;
    this.version++;
    return fresh.length;
  }

  clear(): void {
    this.trades = [];
    this.seen.clear();
    this.version++;
  }
}

const keys = new Map<string, bigint>();

/** A trade id's numeric value, remembered for the trades held (ids grow without end). */
function idKey(id: string): bigint {
  let k = keys.get(id);
  if (k === undefined) {
    k = BigInt(id);
    if (keys.size > 10_000) keys.clear();
    keys.set(id, k);
  }
  return k;
}
