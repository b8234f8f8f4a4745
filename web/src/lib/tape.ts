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
    const merged = [...fresh, ...this.trades].sort((a, b) => compareIds(b.trade_id, a.trade_id));
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

function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
