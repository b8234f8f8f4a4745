// Candles with volume (lightweight-charts, Apache-2.0: its attribution logo stays on).
// The chart's times are the true UTC instants; labels are formatted in the browser's
// zone. Prices become chart coordinates here only; the legend shows the strings.
import { useEffect, useRef, useState } from "react";
import {
  CandlestickSeries, ColorType, createChart, HistogramSeries, TickMarkType,
  type IChartApi, type ISeriesApi, type Time, type UTCTimestamp,
} from "lightweight-charts";
import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import type { Candle } from "../lib/feed";
import { priceDecimals, type SymbolInfo } from "../lib/market";
import { candleLabel, INTERVALS, nsToMs, type Interval } from "../lib/time";
import { useMarket } from "../stores/market";

function bar(c: Candle) {
  const time = Math.floor(nsToMs(c.start_ns) / 1000) as UTCTimestamp;
  return {
    candle: { time, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) },
    volume: { time, value: Number(c.volume), color: Number(c.close) >= Number(c.open) ? "#2ebd8566" : "#f6465d66" },
  };
}

export default function Candles({ symbol, interval, onInterval }: {
  symbol: SymbolInfo; interval: Interval; onInterval: (i: Interval) => void;
}) {
  const box = useRef<HTMLElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<{ candles: ISeriesApi<"Candlestick">; volume: ISeriesApi<"Histogram"> } | null>(null);
  const [legend, setLegend] = useState<Candle | null>(null);
  const live = useMarket((s) => s.view.candle);
  const liveInterval = useMarket((s) => s.view.interval);
  const history = useQuery({
    queryKey: ["candles", symbol.symbol, interval],
    queryFn: () => api.candles(symbol.symbol, interval),
    staleTime: 0,
  });

  useEffect(() => {
    if (!box.current) return;
    const pd = priceDecimals(symbol);
    const c = createChart(box.current, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "#14181f" }, textColor: "#8b94a3", attributionLogo: true },
      grid: { vertLines: { color: "#1e242d" }, horzLines: { color: "#1e242d" } },
      localization: { timeFormatter: (t: Time) => candleLabel(Number(t), true) },
      timeScale: {
        timeVisible: true, secondsVisible: false,
        tickMarkFormatter: (t: Time, type: TickMarkType) => candleLabel(Number(t), type <= TickMarkType.DayOfMonth),
      },
    });
    const candles = c.addSeries(CandlestickSeries, {
      upColor: "#2ebd85", downColor: "#f6465d", wickUpColor: "#2ebd85", wickDownColor: "#f6465d", borderVisible: false,
      priceFormat: { type: "price", precision: pd, minMove: Number(symbol.tick_size) },
    });
    const volume = c.addSeries(HistogramSeries, { priceScaleId: "", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    chart.current = c;
    series.current = { candles, volume };
    return () => {
      c.remove();
      chart.current = null;
      series.current = null;
    };
  }, [symbol]);

  useEffect(() => {
    const s = series.current;
    if (!s || !history.data) return;
    const bars = history.data.map(bar);
    s.candles.setData(bars.map((b) => b.candle));
    s.volume.setData(bars.map((b) => b.volume));
    setLegend(history.data[history.data.length - 1] ?? null);
    chart.current?.timeScale().scrollToRealTime();
  }, [history.data]);

  useEffect(() => {
    const s = series.current;
    if (!s || !live || liveInterval !== interval || !history.data) return;
    const b = bar(live);
    const last = s.candles.data().at(-1);
    if (last && Number(last.time) > Number(b.candle.time)) return; // an older bar: never rewrite history
    s.candles.update(b.candle);
    s.volume.update(b.volume);
    setLegend(live);
  }, [live, liveInterval, interval, history.data]);

  return (
    <div className="flex h-full flex-col">
      <div className="flex items-center gap-1 border-b border-line px-2 py-1">
        <h2 className="mr-2 text-xs font-semibold">Chart</h2>
        <div role="group" aria-label="Candle interval" className="flex gap-1">
          {INTERVALS.map((i) => (
            <button key={i} type="button" aria-pressed={i === interval} onClick={() => onInterval(i)}
              className={`rounded px-2 py-0.5 text-xs ${i === interval ? "bg-accent/20 text-accent" : "text-muted hover:text-white"}`}>{i}</button>
          ))}
        </div>
        {legend && (
          <span className="num ml-auto text-xs text-muted" data-testid="candle-legend">
            O {legend.open} H {legend.high} L {legend.low} C {legend.close} V {legend.volume}
          </span>
        )}
      </div>
      <figure ref={box} className="m-0 min-h-0 flex-1" aria-label={`${symbol.symbol} ${interval} candles`} />
    </div>
  );
}
