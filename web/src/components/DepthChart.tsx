// Cumulative depth as step areas, drawn as two SVG paths. Prices and sizes become chart
// coordinates here only; the hover label shows the exact strings. (A chart library
// redrew the whole chart, axes and all, on every book change: tens of milliseconds a
// time on the main thread while the book streams. Two paths cost a fraction of one.)
import { memo, useLayoutEffect, useMemo, useRef, useState } from "react";
import { depthSeries, type DepthPoint } from "../lib/book";
import { formatFixed } from "../lib/decimal";
import { priceDecimals, type SymbolInfo } from "../lib/market";
import { useMarket } from "../stores/market";
import { useThrottled } from "../lib/throttle";

const LEVELS = 40;
const PAD = { top: 8, right: 10, bottom: 20, left: 46 };

export default function DepthChart({ symbol }: { symbol: SymbolInfo }) {
  const bids = useMarket((s) => s.view.bids);
  const asks = useMarket((s) => s.view.asks);
  const live = useMemo(() => ({ bids, asks }), [bids, asks]);
  const book = useThrottled(live, 250);
  const series = useMemo(() => depthSeries(book.bids.slice(0, LEVELS), book.asks.slice(0, LEVELS)), [book]);
  const box = useRef<HTMLDivElement>(null);
  const size = useSize(box);
  return (
    <div className="flex h-full flex-col">
      <h2 className="panel-title">Depth</h2>
      <div ref={box} className="relative min-h-0 flex-1" role="img" aria-label={`${symbol.symbol} cumulative depth chart`}
        data-testid="depth-chart" data-points={series.points.length}>
        {series.points.length === 0
          ? <p className="p-3 text-muted">The book is empty.</p>
          : size && <Chart points={series.points} domain={series.domain} symbol={symbol} width={size.width} height={size.height} />}
      </div>
    </div>
  );
}

function useSize(box: React.RefObject<HTMLElement | null>): { width: number; height: number } | null {
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return;
    const measure = () => setSize((s) => (s && s.width === element.clientWidth && s.height === element.clientHeight
      ? s : { width: element.clientWidth, height: element.clientHeight }));
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, [box]);
  return size;
}

/** The SVG path of one side: steps between points (``before``: the value changes at
 * the previous point's x, as a bid's; else at the next point's x, as an ask's), closed
 * down to the axis. */
export function stepPath(xy: [number, number][], baseline: number, before: boolean): string {
  if (xy.length === 0) return "";
  let d = `M${xy[0]![0]},${baseline}L${xy[0]![0]},${xy[0]![1]}`;
  for (let i = 1; i < xy.length; i++) {
    const [x, y] = xy[i]!;
    const [px, py] = xy[i - 1]!;
    d += before ? `L${px},${y}L${x},${y}` : `L${x},${py}L${x},${y}`;
  }
  return `${d}L${xy[xy.length - 1]![0]},${baseline}Z`;
}

const Chart = memo(function Chart({ points, domain, symbol, width, height }: {
  points: DepthPoint[]; domain: [number, number]; symbol: SymbolInfo; width: number; height: number;
}) {
  const [hover, setHover] = useState<DepthPoint | null>(null);
  const pd = priceDecimals(symbol);
  const top = Math.max(...points.map((p) => p.bid ?? p.ask ?? 0)) * 1.1 || 1;
  const plotW = Math.max(width - PAD.left - PAD.right, 1);
  const plotH = Math.max(height - PAD.top - PAD.bottom, 1);
  const sx = (x: number) => PAD.left + ((x - domain[0]) / (domain[1] - domain[0])) * plotW;
  const sy = (y: number) => PAD.top + plotH - (y / top) * plotH;
  const base = PAD.top + plotH;
  const bids = points.filter((p) => p.bid !== undefined).map((p) => [sx(p.x), sy(p.bid!)] as [number, number]);
  const asks = points.filter((p) => p.ask !== undefined).map((p) => [sx(p.x), sy(p.ask!)] as [number, number]);
  const inset = (domain[1] - domain[0]) * 0.12;
  const xTicks = [domain[0] + inset, (domain[0] + domain[1]) / 2, domain[1] - inset];
  const yTicks = [0, top / 3, (2 * top) / 3].map((v) => Number(v.toPrecision(2)));
  // an axis label is a rounded chart coordinate, not an amount
  const priceLabel = (x: number) => formatFixed(x.toFixed(pd), pd);
  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const x = domain[0] + ((e.nativeEvent.offsetX - PAD.left) / plotW) * (domain[1] - domain[0]);
    let best: DepthPoint | null = null;
    for (const p of points) if (!best || Math.abs(p.x - x) < Math.abs(best.x - x)) best = p;
    setHover(best);
  };
  return (
    <>
      <svg width={width} height={height} className="block" onMouseMove={onMove} onMouseLeave={() => setHover(null)} aria-hidden="true">
        <path d={stepPath(bids, base, true)} fill="#2ebd8540" stroke="#2ebd85" strokeWidth={1.5} />
        <path d={stepPath(asks, base, false)} fill="#f6465d40" stroke="#f6465d" strokeWidth={1.5} />
        <line x1={PAD.left} x2={PAD.left + plotW} y1={base} y2={base} stroke="#8b94a3" />
        <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={base} stroke="#8b94a3" />
        {xTicks.map((x) => (
          <text key={x} x={sx(x)} y={base + 14} fill="#8b94a3" fontSize={10} textAnchor="middle">{priceLabel(x)}</text>
        ))}
        {yTicks.map((y) => (
          <text key={y} x={PAD.left - 4} y={sy(y) + 3} fill="#8b94a3" fontSize={10} textAnchor="end">{y}</text>
        ))}
      </svg>
      {hover && (
        <div className="num pointer-events-none absolute right-2 top-1 rounded border border-line bg-panel px-2 py-1 text-xs" data-testid="depth-hover">
          price {hover.price}<br />cumulative {hover.cumulative} {symbol.base}
        </div>
      )}
    </>
  );
});
