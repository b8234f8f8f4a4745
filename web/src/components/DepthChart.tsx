// Cumulative depth as step areas (Recharts, animations off). Prices and sizes become
// chart coordinates here only; the tooltip shows the exact strings.
import { memo, useMemo } from "react";
import { Area, AreaChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { depthSeries, type DepthPoint } from "../lib/book";
import { formatFixed } from "../lib/decimal";
import { priceDecimals, type SymbolInfo } from "../lib/market";
import { useMarket } from "../stores/market";
import { useThrottled } from "../lib/throttle";

const LEVELS = 40;

export default function DepthChart({ symbol }: { symbol: SymbolInfo }) {
  const bids = useMarket((s) => s.view.bids);
  const asks = useMarket((s) => s.view.asks);
  const live = useMemo(() => ({ bids, asks }), [bids, asks]);
  const book = useThrottled(live, 500); // a chart redraw costs far more than a ladder row
  const series = useMemo(() => depthSeries(book.bids.slice(0, LEVELS), book.asks.slice(0, LEVELS)), [book]);
  return (
    <div className="flex h-full flex-col">
      <h2 className="panel-title">Depth</h2>
      <div className="min-h-0 flex-1" role="img" aria-label={`${symbol.symbol} cumulative depth chart`} data-testid="depth-chart"
        data-points={series.points.length}>
        {series.points.length === 0
          ? <p className="p-3 text-muted">The book is empty.</p>
          : <Chart points={series.points} domain={series.domain} symbol={symbol} />}
      </div>
    </div>
  );
}

const Chart = memo(function Chart({ points, domain, symbol }: { points: DepthPoint[]; domain: [number, number]; symbol: SymbolInfo }) {
  const pd = priceDecimals(symbol);
  const mid = (domain[0] + domain[1]) / 2;
  // three ticks: both edges pulled in a little (their labels stay inside) and the mid
  const inset = (domain[1] - domain[0]) * 0.12;
  const ticks = [domain[0] + inset, mid, domain[1] - inset];
  // an axis label is a rounded chart coordinate, not an amount
  const label = (x: number) => formatFixed(x.toFixed(pd), pd);
  return (
    <ResponsiveContainer width="100%" height="100%">
      <AreaChart data={points} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
        <XAxis dataKey="x" type="number" domain={domain} ticks={ticks} tickFormatter={label} allowDataOverflow
          tick={{ fill: "#8b94a3", fontSize: 10 }} interval={0} />
        <YAxis tick={{ fill: "#8b94a3", fontSize: 10 }} width={44} />
        <Tooltip isAnimationActive={false} contentStyle={{ background: "#14181f", border: "1px solid #262c36" }}
          formatter={(_v, _n, item) => [(item.payload as DepthPoint).cumulative, `cumulative ${symbol.base}`]}
          labelFormatter={(_l, payload) => `price ${(payload[0]?.payload as DepthPoint | undefined)?.price ?? ""}`} />
        <Area type="stepBefore" dataKey="bid" stroke="#2ebd85" fill="#2ebd8540" isAnimationActive={false} connectNulls={false} dot={false} activeDot={false} />
        <Area type="stepAfter" dataKey="ask" stroke="#f6465d" fill="#f6465d40" isAnimationActive={false} connectNulls={false} dot={false} activeDot={false} />
      </AreaChart>
    </ResponsiveContainer>
  );
});
