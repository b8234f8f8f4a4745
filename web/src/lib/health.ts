// The admin dashboard's live figures: rates and latency percentiles of each polling
// interval, from two cumulative answers of GET /api/v1/admin/health.
export interface Bucket {
  le: string;
  count: number;
}

export interface HealthSample {
  atMs: number;
  commands_by_type: Record<string, number>;
  trades_by_symbol: Record<string, number>;
  ack_latency_seconds: { buckets: Bucket[] };
}

export interface HealthPoint {
  atMs: number;
  ordersPerSec: number;
  tradesPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

const ORDER_COMMANDS = new Set(["PlaceOrder", "AmendOrder", "CancelOrder", "CancelAll"]);

function sum(values: Record<string, number>, keep: (k: string) => boolean = () => true): number {
  return Object.entries(values).reduce((s, [k, v]) => (keep(k) ? s + v : s), 0);
}

/** The ``q`` quantile (0..1) of the observations between two cumulative histograms,
 * interpolated linearly inside its bucket; null when nothing was observed. */
export function quantileBetween(before: Bucket[], after: Bucket[], q: number): number | null {
  const counts = after.map((b, i) => ({ le: b.le, count: b.count - (before[i]?.count ?? 0) }));
  const total = counts[counts.length - 1]?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of counts) {
    const upper = b.le === "+Inf" ? lower : Number(b.le);
    if (b.count >= rank) {
      const inBucket = b.count - below;
      if (b.le === "+Inf" || inBucket <= 0) return upper;
      return lower + ((rank - below) / inBucket) * (upper - lower);
    }
    lower = upper;
    below = b.count;
  }
  return lower;
}

export function healthPoint(before: HealthSample, after: HealthSample): HealthPoint {
  const seconds = Math.max((after.atMs - before.atMs) / 1000, 1e-3);
  const orders = sum(after.commands_by_type, (k) => ORDER_COMMANDS.has(k)) - sum(before.commands_by_type, (k) => ORDER_COMMANDS.has(k));
  const trades = sum(after.trades_by_symbol) - sum(before.trades_by_symbol);
  const p50 = quantileBetween(before.ack_latency_seconds.buckets, after.ack_latency_seconds.buckets, 0.5);
  const p99 = quantileBetween(before.ack_latency_seconds.buckets, after.ack_latency_seconds.buckets, 0.99);
  return {
    atMs: after.atMs,
    ordersPerSec: Math.max(orders, 0) / seconds,
    tradesPerSec: Math.max(trades, 0) / seconds,
    p50Ms: p50 === null ? null : p50 * 1000,
    p99Ms: p99 === null ? null : p99 * 1000,
  };
}
