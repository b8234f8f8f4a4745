// The performance dashboard's reading of POST /api/simulation. The request is
// {"num_orders": N}; the answer carries the orders, the trades, the throughput, latency
// percentiles (p50, p99, p99.9), a latency histogram and a throughput-over-time series.
// Field names are read leniently (a suffix _us / _ms / _ns gives the unit, microseconds
// otherwise) so that the page shows every figure the server sends.
export interface SimulationRun {
  id: number;
  at: number;
  numOrders: number;
  orders: number;
  trades: number;
  throughput: number; // orders per second
  p50Us: number | null;
  p99Us: number | null;
  p999Us: number | null;
  histogram: { upperUs: number; count: number }[];
  series: { t: number; value: number }[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function num(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function first(o: Obj, keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
}

const SCALE: Record<string, number> = { _ns: 0.001, _us: 1, _ms: 1000, _s: 1_000_000 };

/** A latency in microseconds, under a base name with a unit suffix (p50_ms), plain in a
 * unit-named object (latency_ms: {p50}), or plain (microseconds). */
function latency(o: Obj, names: string[]): number | null {
  const containers: [Obj, number][] = [[o, 1]];
  for (const [key, scale] of [["latency", 1], ["latency_us", 1], ["latency_ms", 1000], ["latency_ns", 0.001], ["latencies", 1]] as const) {
    const c = o[key];
    if (isObj(c)) containers.push([c, scale]);
  }
  for (const [c, unit] of containers) {
    for (const name of names) {
      for (const prefix of ["", "latency_"]) {
        for (const [suffix, scale] of Object.entries(SCALE)) {
          const v = num(c[prefix + name + suffix]);
          if (v !== null) return v * scale;
        }
        const plain = num(c[prefix + name]);
        if (plain !== null) return plain * unit;
      }
    }
  }
  return null;
}

export function normaliseSimulation(body: unknown, numOrders: number, id: number, at: number): SimulationRun {
  if (!isObj(body)) throw new Error("The simulation answered with no figures.");
  const histRaw = first(body, ["latency_histogram", "histogram", "latency_histogram_us"]);
  const histList = Array.isArray(histRaw) ? histRaw : isObj(histRaw) && Array.isArray(histRaw.buckets) ? histRaw.buckets : [];
  const histogram = histList.flatMap((b: unknown) => {
    if (Array.isArray(b)) {
      const [upper, count] = [num(b[0]), num(b[1])];
      return upper !== null && count !== null ? [{ upperUs: upper, count }] : [];
    }
    if (!isObj(b)) return [];
    const count = num(first(b, ["count", "n", "value"]));
    let upper: number | null = null;
    for (const [key, scale] of [["le_us", 1], ["upper_us", 1], ["le_ms", 1000], ["le_ns", 0.001], ["le", 1], ["upper", 1], ["bucket", 1], ["latency_us", 1]] as const) {
      const v = num(b[key]);
      if (v !== null) { upper = v * scale; break; }
    }
    return upper !== null && count !== null ? [{ upperUs: upper, count }] : [];
  });
  const seriesRaw = first(body, ["throughput_series", "throughput_over_time", "series", "timeline"]);
  const series = (Array.isArray(seriesRaw) ? seriesRaw : []).flatMap((p: unknown, i: number) => {
    if (Array.isArray(p)) {
      const [t, v] = [num(p[0]), num(p[1])];
      return t !== null && v !== null ? [{ t, value: v }] : [];
    }
    if (!isObj(p)) return [];
    const value = num(first(p, ["value", "throughput", "orders_per_second", "ops", "orders"]));
    const t = num(first(p, ["t", "time", "second", "elapsed_s", "ts"])) ?? i;
    return value !== null ? [{ t, value }] : [];
  });
  return {
    id, at, numOrders,
    orders: num(first(body, ["orders", "num_orders", "orders_processed", "total_orders"])) ?? numOrders,
    trades: num(first(body, ["trades", "num_trades", "trades_executed", "total_trades"])) ?? 0,
    throughput: num(first(body, ["throughput", "throughput_per_sec", "orders_per_second", "throughput_ops"])) ?? 0,
    p50Us: latency(body, ["p50"]),
    p99Us: latency(body, ["p99"]),
    p999Us: latency(body, ["p999", "p99_9", "p99.9"]),
    histogram,
    series,
  };
}

/** The change of a figure against the previous run, in percent (one decimal). */
export function changeAgainst(current: number | null, previous: number | null | undefined): string | null {
  if (current === null || previous === null || previous === undefined || previous === 0) return null;
  const pct = ((current - previous) / previous) * 100;
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`;
}
