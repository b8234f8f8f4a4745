import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api, ApiError } from "../api/client";
import { useSession, useSymbols } from "../hooks";
import { formatFixed } from "../lib/decimal";
import type { OrderView } from "../lib/feed";
import { priceDecimals, qtyDecimals, type SymbolInfo } from "../lib/market";
import { formatDateTime } from "../lib/time";
import { useMarket } from "../stores/market";
import { useToasts } from "../stores/toasts";

type Tab = "open" | "history" | "fills";

export function OrdersPanel({ symbol }: { symbol: SymbolInfo }) {
  const [tab, setTab] = useState<Tab>("open");
  const session = useSession();
  const open = useMarket((s) => s.view.openOrders);
  const tabs: [Tab, string][] = [["open", `Open orders (${open.length})`], ["history", "Order history"], ["fills", "Fills"]];
  return (
    <div className="flex h-full flex-col">
      <div role="tablist" aria-label="Your orders" className="flex gap-3 border-b border-line px-3">
        {tabs.map(([t, label]) => (
          <button key={t} id={`tab-${t}`} role="tab" type="button" aria-selected={tab === t} aria-controls={`panel-${t}`}
            className="tab py-1.5 text-xs font-semibold" onClick={() => setTab(t)}>{label}</button>
        ))}
      </div>
      <div id={`panel-${tab}`} role="tabpanel" aria-labelledby={`tab-${tab}`} className="min-h-0 flex-1 overflow-auto" tabIndex={0}>
        {!session ? <p className="p-3 text-muted">Sign in to see your orders.</p>
          : tab === "open" ? <OpenOrders orders={open} symbol={symbol} />
          : tab === "history" ? <History /> : <Fills />}
      </div>
    </div>
  );
}

function useSymbolMap() {
  const { data = [] } = useSymbols();
  return new Map(data.map((s) => [s.symbol, s]));
}

function OpenOrders({ orders, symbol }: { orders: OrderView[]; symbol: SymbolInfo }) {
  const push = useToasts((s) => s.push);
  const symbols = useSymbolMap();
  const [editing, setEditing] = useState<string | null>(null);
  const cancelAll = async () => {
    try {
      const r = await api.cancelAll();
      push("info", `Cancelled ${r.count} order${r.count === 1 ? "" : "s"}.`);
    } catch (e) {
      push("error", e instanceof ApiError ? e.message : "Cancel all failed.");
    }
  };
  if (orders.length === 0) return <p className="p-3 text-muted">No open orders.</p>;
  return (
    <table className="grid-table num" aria-label="Open orders" data-testid="open-orders">
      <thead><tr>
        <th scope="col">Market</th><th scope="col">Side</th><th scope="col">Type</th><th scope="col">Price</th>
        <th scope="col">Quantity</th><th scope="col">Filled</th><th scope="col">Status</th>
        <th scope="col"><button type="button" className="btn py-0 text-xs" onClick={cancelAll}>Cancel all</button></th>
      </tr></thead>
      <tbody>
        {orders.map((o) => {
          const s = symbols.get(o.symbol) ?? symbol;
          return editing === o.order_id
            ? <AmendRow key={o.order_id} order={o} symbol={s} done={() => setEditing(null)} />
            : (
              <tr key={o.order_id} data-order-id={o.order_id}>
                <td>{o.symbol}</td>
                <td className={o.side === "buy" ? "text-up" : "text-down"}>{o.side === "buy" ? "Buy" : "Sell"}</td>
                <td>{o.type.replace("_", "-")}{o.post_only ? " post-only" : ""}{o.display_quantity ? " iceberg" : ""} {o.time_in_force.toUpperCase()}</td>
                <td>{o.price ? formatFixed(o.price, priceDecimals(s), true) : "market"}{o.stop_price ? ` (stop ${o.stop_price})` : ""}</td>
                <td>{formatFixed(o.quantity, qtyDecimals(s), true)}</td>
                <td>{formatFixed(o.filled_quantity, qtyDecimals(s), true)}</td>
                <td>{o.status.replace("_", " ")}</td>
                <td className="whitespace-nowrap">
                  {o.type === "limit" && o.status !== "pending_trigger" && (
                    <button type="button" className="btn mr-1 py-0 text-xs" aria-label={`Amend order ${o.order_id}`} onClick={() => setEditing(o.order_id)}>Amend</button>)}
                  <CancelButton orderId={o.order_id} />
                </td>
              </tr>
            );
        })}
      </tbody>
    </table>
  );
}

function CancelButton({ orderId }: { orderId: string }) {
  const push = useToasts((s) => s.push);
  const [busy, setBusy] = useState(false);
  return (
    <button type="button" className="btn py-0 text-xs" disabled={busy} aria-label={`Cancel order ${orderId}`}
      onClick={async () => {
        setBusy(true);
        try {
          await api.cancelOrder(orderId); // the row leaves when the private stream says so
        } catch (e) {
          push("error", e instanceof ApiError ? e.message : "Cancel failed.");
          setBusy(false);
        }
      }}>Cancel</button>
  );
}

function AmendRow({ order, symbol, done }: { order: OrderView; symbol: SymbolInfo; done: () => void }) {
  const [price, setPrice] = useState(order.price ?? "");
  const [quantity, setQuantity] = useState(order.quantity);
  const [error, setError] = useState<string | null>(null);
  const push = useToasts((s) => s.push);
  const save = async () => {
    const change: { price?: string; quantity?: string } = {};
    if (price !== order.price) change.price = price.trim();
    if (quantity !== order.quantity) change.quantity = quantity.trim();
    try {
      const r = await api.amendOrder(order.order_id, change);
      push("info", `Order ${order.order_id} amended${r.priority_kept ? " (priority kept)" : ""}.`);
      done();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Amend failed.");
    }
  };
  return (
    <tr data-order-id={order.order_id} data-editing="true">
      <td>{order.symbol}</td>
      <td className={order.side === "buy" ? "text-up" : "text-down"}>{order.side === "buy" ? "Buy" : "Sell"}</td>
      <td>{order.type}</td>
      <td><input className="input num w-28" aria-label={`New price (${symbol.quote})`} value={price} onChange={(e) => setPrice(e.target.value)} /></td>
      <td><input className="input num w-24" aria-label={`New quantity (${symbol.base})`} value={quantity} onChange={(e) => setQuantity(e.target.value)} /></td>
      <td colSpan={2}>{error && <span role="alert" className="field-error">{error}</span>}</td>
      <td className="whitespace-nowrap">
        <button type="button" className="btn mr-1 py-0 text-xs" onClick={save}>Save</button>
        <button type="button" className="btn py-0 text-xs" onClick={done}>Discard</button>
      </td>
    </tr>
  );
}

function History() {
  const symbols = useSymbolMap();
  const { data, isLoading, error } = useQuery({ queryKey: ["orders", "history"], queryFn: () => api.orderHistory() });
  if (isLoading) return <p className="p-3 text-muted">Loading…</p>;
  if (error) return <p className="p-3 text-down" role="alert">{error.message}</p>;
  if (!data?.length) return <p className="p-3 text-muted">No closed orders yet.</p>;
  return (
    <table className="grid-table num" aria-label="Order history" data-testid="order-history">
      <thead><tr><th scope="col">Time</th><th scope="col">Market</th><th scope="col">Side</th><th scope="col">Type</th>
        <th scope="col">Price</th><th scope="col">Quantity</th><th scope="col">Filled</th><th scope="col">Fee</th><th scope="col">Status</th></tr></thead>
      <tbody>
        {data.map((o) => {
          const s = symbols.get(o.symbol);
          return (
            <tr key={o.order_id}>
              <td>{formatDateTime(o.updated_ns)}</td><td>{o.symbol}</td>
              <td className={o.side === "buy" ? "text-up" : "text-down"}>{o.side === "buy" ? "Buy" : "Sell"}</td>
              <td>{o.type.replace("_", "-")}</td>
              <td>{o.price && s ? formatFixed(o.price, priceDecimals(s), true) : "market"}</td>
              <td>{o.quantity}</td><td>{o.filled_quantity}</td><td>{o.fee} {o.fee_asset}</td>
              <td>{o.status}{o.cancel_reason && o.status !== "filled" ? ` (${o.cancel_reason.replace(/_/g, " ")})` : ""}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Fills() {
  const { data, isLoading, error } = useQuery({ queryKey: ["fills"], queryFn: () => api.fills() });
  if (isLoading) return <p className="p-3 text-muted">Loading…</p>;
  if (error) return <p className="p-3 text-down" role="alert">{error.message}</p>;
  if (!data?.length) return <p className="p-3 text-muted">No fills yet.</p>;
  return (
    <table className="grid-table num" aria-label="Fills" data-testid="fills">
      <thead><tr><th scope="col">Time</th><th scope="col">Market</th><th scope="col">Side</th><th scope="col">Price</th>
        <th scope="col">Quantity</th><th scope="col">Fee</th><th scope="col">Role</th></tr></thead>
      <tbody>
        {data.map((f) => (
          <tr key={`${f.trade_id}-${f.order_id}`} data-trade-id={f.trade_id}>
            <td>{formatDateTime(f.timestamp_ns)}</td><td>{f.symbol}</td>
            <td className={f.side === "buy" ? "text-up" : "text-down"}>{f.side === "buy" ? "Buy" : "Sell"}</td>
            <td>{f.price}</td><td>{f.quantity}</td><td>{f.fee} {f.fee_asset}</td><td>{f.is_maker ? "Maker" : "Taker"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
