// Cumulative depth as step areas (Recharts, animations off). Prices and sizes become
// chart coordinates here only; the tooltip shows the exact strings.
import { useMemo } from "react";
import { Area, AreaChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { depthPoints, type DepthPoint } from "../lib/book";
import type { SymbolInfo } from "../lib/market";
import { useMarket } from "../stores/market";
import { useThrottled } from "../lib/throttle";

export default function DepthChart({ symbol }: { symbol: SymbolInfo }) {
  const bids = useMarket((s) => s.view.bids);
  const asks = useMarket((s) => s.view.asks);
  const live = useMemo(() => ({ bids, asks }), [bids, asks]);
  const book = useThrottled(live, 250); // a chart redraw costs far more than a ladder row
  const points = useMemo(() => depthPoints(book.bids.slice(0, 40), book.asks.slice(0, 40)), [book]);
  return (
    <div className="flex h-full flex-col">
      <h2 className="panel-title">Depth</h2>
      <div className="min-h-0 flex-1" role="img" aria-label={`${symbol.symbol} cumulative depth chart`}>
        <ResponsiveContainer width="100%" height="100%">
          <AreaChart data={points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
            <XAxis dataKey="x" type="number" domain={["dataMin", "dataMax"]} tick={{ fill: "#8b94a3", fontSize: 10 }} tickCount={5} />
            <YAxis tick={{ fill: "#8b94a3", fontSize: 10 }} width={48} />
            <Tooltip isAnimationActive={false} contentStyle={{ background: "#14181f", border: "1px solid #262c36" }}
              formatter={(_v, _n, item) => [(item.payload as DepthPoint).cumulative, `cumulative ${symbol.base}`]}
              labelFormatter={(_l, payload) => `price ${(payload[0]?.payload as DepthPoint | undefined)?.price ?? ""}`} />
            <Area type="stepAfter" dataKey="bid" stroke="#2ebd85" fill="#2ebd8533" isAnimationActive={false} connectNulls={false} />
            <Area type="stepBefore" dataKey="ask" stroke="#f6465d" fill="#f6465d33" isAnimationActive={false} connectNulls={false} />
          </AreaChart>
        </ResponsiveContainer>
      </div>
    </div>
  );
}
