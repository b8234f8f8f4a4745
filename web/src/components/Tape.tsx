import { formatFixed } from "../lib/decimal";
import { priceDecimals, qtyDecimals, type SymbolInfo } from "../lib/market";
import { formatClock } from "../lib/time";
import { useMarket } from "../stores/market";

/** Recent trades, newest first, coloured by the aggressor's side, each trade id once. */
export function Tape({ symbol }: { symbol: SymbolInfo }) {
  const trades = useMarket((s) => s.view.trades);
  const pd = priceDecimals(symbol);
  const qd = qtyDecimals(symbol);
  return (
    <div className="flex h-full flex-col">
      <h2 className="panel-title">Trades</h2>
      <div className="min-h-0 flex-1 overflow-auto" tabIndex={0} aria-label="Recent trades, scrollable">
        <table className="grid-table num" aria-label={`${symbol.symbol} recent trades`} data-testid="tape">
          <thead><tr><th scope="col">Price</th><th scope="col">Size</th><th scope="col">Time</th></tr></thead>
          <tbody>
            {trades.slice(0, 50).map((t) => (
              <tr key={t.trade_id} data-trade-id={t.trade_id} data-side={t.side}>
                <td className={t.side === "buy" ? "text-up" : "text-down"}>
                  <span className="sr-only">{t.side === "buy" ? "Buy" : "Sell"} </span>{formatFixed(t.price, pd, true)}
                </td>
                <td>{formatFixed(t.quantity, qd, true)}</td>
                <td className="text-muted">{formatClock(t.timestamp_ns)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {trades.length === 0 && <p className="p-3 text-muted">No trades yet.</p>}
      </div>
    </div>
  );
}
