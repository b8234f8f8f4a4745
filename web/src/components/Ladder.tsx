import { memo, useCallback, useLayoutEffect, useMemo, useRef, useState } from "react";
import { Decimal } from "../lib/decimal";
import { formatFixed } from "../lib/decimal";
import { ladderRows, spreadOf, type LadderRow } from "../lib/book";
import { priceDecimals, qtyDecimals, type SymbolInfo } from "../lib/market";
import { useMarket } from "../stores/market";
import { useTicket } from "../stores/ticket";

const ROW_PX = 21;
const MAX_ROWS = 14;

/** Rows per side that fit the scroll box (the header and the spread row take 50 px): the best
 * levels and the spread stay in view at any height. */
function useRowsThatFit(box: React.RefObject<HTMLElement | null>): number {
  const [rows, setRows] = useState(10);
  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return;
    const fit = () => {
      const height = element.clientHeight;
      if (height > 0) setRows(Math.max(3, Math.min(MAX_ROWS, Math.floor((height - 50) / (2 * ROW_PX)))));
    };
    fit();
    if (typeof ResizeObserver === "undefined") return; // a test DOM
    const observer = new ResizeObserver(fit);
    observer.observe(element);
    return () => observer.disconnect();
  }, [box]);
  return rows;
}

/** The depth ladder: asks above bids (best next to the spread row, which stays in view),
 * size and cumulative bars, own orders marked, a click on a price sets the form's price. */
export function Ladder({ symbol }: { symbol: SymbolInfo }) {
  const bids = useMarket((s) => s.view.bids);
  const asks = useMarket((s) => s.view.asks);
  const synced = useMarket((s) => s.view.synced);
  const updateId = useMarket((s) => s.view.updateId);
  const orders = useMarket((s) => s.view.openOrders);
  const update = useTicket((s) => s.update);
  const box = useRef<HTMLDivElement>(null);
  const rows = useRowsThatFit(box);
  const pd = priceDecimals(symbol);
  const qd = qtyDecimals(symbol);

  const { bidRows, askRows } = useMemo(() => {
    const b = bids.slice(0, rows);
    const a = asks.slice(0, rows);
    const total = (levels: typeof b) => levels.reduce((s, [, q]) => s.plus(q), new Decimal(0));
    const top = Decimal.max(total(b), total(a));
    return { bidRows: ladderRows(b, top), askRows: ladderRows(a, top) };
  }, [bids, asks, rows]);
  const mine = useMemo(() => {
    const set = new Set<string>();
    for (const o of orders) if (o.symbol === symbol.symbol && o.price) set.add(`${o.side === "buy" ? "bid" : "ask"}:${o.price}`);
    return set;
  }, [orders, symbol.symbol]);
  const spread = spreadOf(bids[0]?.[0], asks[0]?.[0], pd);

  const pick = useCallback((price: string) => update({ price }), [update]);
  return (
    <div className="flex h-full flex-col">
      <h2 className="panel-title">Order book</h2>
      <div ref={box} className="stream-box min-h-0 flex-1 overflow-auto" data-testid="ladder-scroll" tabIndex={0} aria-label="Order book, scrollable">
        <table className="grid-table num table-fixed" aria-label={`${symbol.symbol} order book`} data-testid="ladder" data-update-id={updateId} data-rows={rows}>
          <colgroup><col className="w-[38%]" /><col className="w-[31%]" /><col className="w-[31%]" /></colgroup>
          <thead>
            <tr><th scope="col">Price ({symbol.quote})</th><th scope="col">Size ({symbol.base})</th><th scope="col">Total</th></tr>
          </thead>
          <tbody aria-label="Asks">
            {padTop(askRows.slice().reverse(), rows).map((row, i) =>
              row ? <Row key={`a${i}`} row={row} side="ask" pd={pd} qd={qd} mine={mine.has(`ask:${row.price}`)} onPick={pick} />
                : <tr key={`a${i}`} aria-hidden="true" className="h-[21px]"><td colSpan={3} /></tr>)}
          </tbody>
          <tbody aria-label="Spread">
            <tr className="sticky top-6 bottom-0 z-10 bg-[#1a1f27]" data-testid="spread-row">
              <th scope="row" className="!text-left !text-xs !font-normal">Spread</th>
              <td className="text-xs" colSpan={2}>
                {!synced ? "Loading…" : spread ? `${formatFixed(spread.absolute, pd, true)} (${spread.percent}%)` : "—"}
              </td>
            </tr>
          </tbody>
          <tbody aria-label="Bids">
            {padBottom(bidRows, rows).map((row, i) =>
              row ? <Row key={`b${i}`} row={row} side="bid" pd={pd} qd={qd} mine={mine.has(`bid:${row.price}`)} onPick={pick} />
                : <tr key={`b${i}`} aria-hidden="true" className="h-[21px]"><td colSpan={3} /></tr>)}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function padTop<T>(rows: T[], n: number): (T | null)[] {
  return [...Array<null>(Math.max(n - rows.length, 0)).fill(null), ...rows];
}

function padBottom<T>(rows: T[], n: number): (T | null)[] {
  return [...rows, ...Array<null>(Math.max(n - rows.length, 0)).fill(null)];
}

const Row = memo(function Row({ row, side, pd, qd, mine, onPick }: {
  row: LadderRow; side: "bid" | "ask"; pd: number; qd: number; mine: boolean; onPick: (price: string) => void;
}) {
  const color = side === "bid" ? "var(--color-up)" : "var(--color-down)";
  const depth = barWidth(row.depthShare);
  const size = barWidth(row.sizeShare);
  return (
    <tr className="h-[21px] cursor-pointer hover:bg-white/5" data-side={side} data-price={row.price} data-quantity={row.quantity}
      data-mine={mine || undefined}
      style={{ background: `linear-gradient(to left, ${color}26 ${depth}, transparent ${depth}), linear-gradient(to left, ${color}33 ${size}, transparent ${size})` }}
      onClick={() => onPick(row.price)}>
      <td style={{ color }}>
        <button type="button" className="num" onClick={(e) => { e.stopPropagation(); onPick(row.price); }}
          aria-label={`${side === "bid" ? "Bid" : "Ask"} ${row.price}${mine ? ", your order" : ""}: use this price`}>
          {mine && <span aria-hidden="true" className="mr-1 text-accent">◆</span>}{formatFixed(row.price, pd, true)}
        </button>
      </td>
      <td>{formatFixed(row.quantity, qd, true)}</td>
      <td className="text-muted">{formatFixed(row.cumulative, qd, true)}</td>
    </tr>
  );
}, (a, b) => a.side === b.side && a.pd === b.pd && a.qd === b.qd && a.mine === b.mine && a.onPick === b.onPick
  && a.row.price === b.row.price && a.row.quantity === b.row.quantity && a.row.cumulative === b.row.cumulative
  && barWidth(a.row.depthShare) === barWidth(b.row.depthShare) && barWidth(a.row.sizeShare) === barWidth(b.row.sizeShare));

/** A bar's width in whole percent: a change of a tenth of a percent is a restyle and a
 * repaint of the row (the costliest part of a ladder redraw) that nobody can see. */
export function barWidth(share: number): string {
  return `${Math.round(Math.min(Math.max(share, 0), 1) * 100)}%`;
}
