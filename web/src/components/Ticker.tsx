import { formatFixed, percentChange } from "../lib/decimal";
import { priceDecimals, qtyDecimals, type SymbolInfo } from "../lib/market";
import { useMarket } from "../stores/market";

export function TickerBar({ symbol }: { symbol: SymbolInfo }) {
  const ticker = useMarket((s) => s.view.ticker);
  const pd = priceDecimals(symbol);
  const show = (v: string | null | undefined) => (v ? formatFixed(v, pd, true) : "—");
  const change = ticker?.last && ticker.open ? percentChange(ticker.last, ticker.open) : null;
  const up = change !== null && !change.startsWith("-");
  return (
    <dl className="flex flex-wrap items-center gap-x-6 gap-y-1 text-xs" aria-label={`${symbol.symbol} 24 hour statistics`}>
      <div><dt className="text-muted">Last</dt><dd className="num text-base font-semibold" data-testid="ticker-last">{show(ticker?.last)}</dd></div>
      <div><dt className="text-muted">24h change</dt>
        <dd className={`num ${change === null ? "" : up ? "text-up" : "text-down"}`}>{change === null ? "—" : `${up ? "+" : ""}${change}%`}</dd></div>
      <div><dt className="text-muted">24h high</dt><dd className="num">{show(ticker?.high)}</dd></div>
      <div><dt className="text-muted">24h low</dt><dd className="num">{show(ticker?.low)}</dd></div>
      <div><dt className="text-muted">24h volume ({symbol.base})</dt><dd className="num">{ticker ? formatFixed(ticker.volume, qtyDecimals(symbol), true) : "—"}</dd></div>
      {symbol.halted && <div className="rounded bg-down/20 px-2 py-1 font-semibold text-down">Trading halted</div>}
    </dl>
  );
}
