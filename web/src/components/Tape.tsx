import { memo, useRef } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { formatFixed } from "../lib/decimal";
import { priceDecimals, qtyDecimals, type SymbolInfo } from "../lib/market";
import type { TapeTrade } from "../lib/tape";
import { formatClock } from "../lib/time";
import { useMarket } from "../stores/market";

const ROW_PX = 21;

/** Recent trades, newest first, coloured by the aggressor's side, each trade id once.
 * Only the rows in view are in the page (virtualised): a new trade redraws a screenful,
 * not the whole tape. */
export function Tape({ symbol }: { symbol: SymbolInfo }) {
  const trades = useMarket((s) => s.view.trades);
  const box = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: trades.length, getScrollElement: () => box.current, estimateSize: () => ROW_PX, overscan: 4,
    initialRect: { width: 260, height: 300 } });
  const pd = priceDecimals(symbol);
  const qd = qtyDecimals(symbol);
  const items = rows.getVirtualItems();
  const top = items[0]?.start ?? 0;
  const bottom = rows.getTotalSize() - (items[items.length - 1]?.end ?? 0);
  return (
    <div className="flex h-full flex-col">
      <h2 className="panel-title">Trades</h2>
      <div ref={box} className="min-h-0 flex-1 overflow-auto" tabIndex={0} aria-label="Recent trades, scrollable">
        <table className="grid-table num table-fixed" aria-label={`${symbol.symbol} recent trades`} data-testid="tape" aria-rowcount={trades.length + 1}>
          <colgroup><col className="w-[38%]" /><col className="w-[30%]" /><col className="w-[32%]" /></colgroup>
          <thead><tr><th scope="col">Price</th><th scope="col">Size</th><th scope="col">Time</th></tr></thead>
          <tbody>
            {top > 0 && <tr aria-hidden="true" style={{ height: top }}><td colSpan={3} /></tr>}
            {items.map((item) => {
              const t = trades[item.index]!;
              return <Row key={t.trade_id} trade={t} pd={pd} qd={qd} index={item.index} />;
            })}
            {bottom > 0 && <tr aria-hidden="true" style={{ height: bottom }}><td colSpan={3} /></tr>}
          </tbody>
        </table>
        {trades.length === 0 && <p className="p-3 text-muted">No trades yet.</p>}
      </div>
    </div>
  );
}

const Row = memo(function Row({ trade: t, pd, qd, index }: { trade: TapeTrade; pd: number; qd: number; index: number }) {
  return (
    <tr className="h-[21px]" data-trade-id={t.trade_id} data-side={t.side} aria-rowindex={index + 2}>
      <td className={t.side === "buy" ? "text-up" : "text-down"}>
        <span className="sr-only">{t.side === "buy" ? "Buy" : "Sell"} </span>{formatFixed(t.price, pd, true)}
      </td>
      <td>{formatFixed(t.quantity, qd, true)}</td>
      <td className="text-muted">{formatClock(t.timestamp_ns)}</td>
    </tr>
  );
});
