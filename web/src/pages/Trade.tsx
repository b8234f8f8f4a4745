import { lazy, Suspense, useEffect, useState } from "react";
import { useParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { useSymbols } from "../hooks";
import { Ladder } from "../components/Ladder";
import { Tape } from "../components/Tape";
import { TickerBar } from "../components/Ticker";
import { MarketSelector } from "../components/MarketSelector";
import { OrdersPanel } from "../components/OrdersPanel";
import { Balances } from "../components/Balances";
import { startFeed } from "../stores/market";
import type { Interval } from "../lib/time";

// the charts load after the ladder and the form: they are not needed to trade
const Candles = lazy(() => import("../components/Candles"));
const DepthChart = lazy(() => import("../components/DepthChart"));
// the form (react-hook-form, zod) arrives just after the ladder, in its own chunk
const OrderForm = lazy(() => import("../components/OrderForm").then((m) => ({ default: m.OrderForm })));

export default function Trade() {
  const { symbol: wanted } = useParams();
  const { data: symbols, error } = useSymbols();
  const name = (wanted ?? "BTC-USD").toUpperCase();
  const symbol = symbols?.find((s) => s.symbol === name);
  const [interval, setInterval] = useState<Interval>("1m");
  const queries = useQueryClient();

  useEffect(() => {
    if (symbol) startFeed(symbol.symbol, interval, queries);
  }, [symbol, interval, queries]);
  useEffect(() => {
    if (symbol) document.title = `${symbol.symbol} · Matchbook`;
  }, [symbol]);

  if (error) return <p className="p-6 text-down" role="alert">{error.message}</p>;
  if (!symbols) return <p className="p-6 text-muted">Loading markets…</p>;
  if (!symbol) return <p className="p-6" role="alert">The market {name} is not traded here.</p>;
  return (
    <main className="grid h-[calc(100vh-44px)] min-h-[720px] grid-cols-[270px_minmax(0,1fr)_280px_300px] grid-rows-[auto_minmax(0,1.4fr)_minmax(0,1fr)] gap-2 p-2">
      <h1 className="sr-only">Trade {symbol.symbol}</h1>
      <section className="panel col-span-4 flex items-center gap-6 px-3 py-2" aria-label="Market">
        <MarketSelector current={symbol.symbol} />
        <TickerBar symbol={symbol} />
      </section>
      <section className="panel min-h-0" aria-label="Order book"><Ladder symbol={symbol} /></section>
      <section className="panel min-h-0" aria-label="Chart">
        <Suspense fallback={<p className="p-3 text-muted">Loading chart…</p>}>
          <Candles symbol={symbol} interval={interval} onInterval={setInterval} />
        </Suspense>
      </section>
      <section className="panel min-h-0" aria-label="Depth chart">
        <Suspense fallback={<p className="p-3 text-muted">Loading depth…</p>}><DepthChart symbol={symbol} /></Suspense>
      </section>
      <section className="panel row-span-2 min-h-0 overflow-auto" aria-label="Place an order">
        <h2 className="panel-title">Place an order</h2>
        <Suspense fallback={<p className="p-3 text-muted">Loading the order form…</p>}><OrderForm symbol={symbol} /></Suspense>
        <Balances assets={[symbol.base, symbol.quote]} />
      </section>
      <section className="panel min-h-0" aria-label="Recent trades"><Tape symbol={symbol} /></section>
      <section className="panel col-span-2 min-h-0" aria-label="Your orders"><OrdersPanel symbol={symbol} /></section>
    </main>
  );
}
