import { useId, useMemo, useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, ApiError } from "../api/client";
import { useAssetDecimals, useSession } from "../hooks";
import { Decimal, dec, formatFixed, parseDecimal } from "../lib/decimal";
import { available, qtyDecimals, type SymbolInfo } from "../lib/market";
import {
  buyHold, hasPrice, isStop, orderBody, quantityForFraction, tifChoices, validateOrder, valuationPrice,
  type Errors, type OrderDraft, type OrderKind, type Stp, type TimeInForce,
} from "../lib/orderForm";
import { useMarket } from "../stores/market";
import { useTicket } from "../stores/ticket";
import { useToasts } from "../stores/toasts";
import { Link } from "react-router";

const TYPES: [OrderKind, string][] = [["limit", "Limit"], ["market", "Market"], ["stop_limit", "Stop-limit"], ["stop_market", "Stop-market"]];
const STPS: [Stp, string][] = [["cancel_newest", "Cancel newest"], ["cancel_oldest", "Cancel oldest"], ["cancel_both", "Cancel both"], ["decrement_and_cancel", "Decrement and cancel"]];
const FRACTIONS = ["0.25", "0.5", "0.75", "1"];

export function OrderForm({ symbol }: { symbol: SymbolInfo }) {
  const id = useId();
  const session = useSession();
  const draft = useTicket((s) => s.draft);
  const update = useTicket((s) => s.update);
  const balances = useMarket((s) => s.view.balances);
  const bestBid = useMarket((s) => s.view.bids[0]?.[0]);
  const bestAsk = useMarket((s) => s.view.asks[0]?.[0]);
  const quoteDecimals = useAssetDecimals(symbol.quote);
  const queries = useQueryClient();
  const push = useToasts((s) => s.push);
  const [touched, setTouched] = useState(false);
  const [serverError, setServerError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const base = available(balances ?? undefined, symbol.base);
  const quote = available(balances ?? undefined, symbol.quote);
  const market = { bestBid, bestAsk };
  const errors: Errors = useMemo(
    () => validateOrder(symbol, draft, market, base, quote, quoteDecimals),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [symbol, draft, bestBid, bestAsk, base, quote, quoteDecimals],
  );
  const valid = Object.keys(errors).length === 0;
  const show = (field: keyof Errors) => (touched || fieldTouched(draft, field)) ? errors[field] : undefined;

  const price = valuationPrice(symbol, draft, market);
  const qty = parseDecimal(draft.quantity);
  const estimate = price && qty && qty.gt(0)
    ? draft.side === "buy" ? buyHold(symbol, price, qty, quoteDecimals) : price.mul(qty)
    : null;

  const setFraction = (fraction: string) => {
    const q = quantityForFraction(symbol, draft.side, dec(fraction), base, quote, price, quoteDecimals);
    update({ quantity: q.toFixed(qtyDecimals(symbol)) });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    setServerError(null);
    if (!valid || !session) return;
    setBusy(true);
    try {
      const placed = await api.placeOrder(orderBody(symbol.symbol, draft));
      push("success", `Order ${placed.order_id} ${placed.status.replace("_", " ")}`);
      update({ quantity: "", displayQuantity: "", clientOrderId: "" });
      setTouched(false);
      void queries.invalidateQueries({ queryKey: ["orders"] });
    } catch (e) {
      setServerError(e instanceof ApiError ? e.message : "The order could not be sent.");
    } finally {
      setBusy(false);
    }
  };

  const field = (name: string) => `${id}-${name}`;
  return (
    <form className="flex flex-col gap-2 p-3" onSubmit={submit} aria-label="Order entry" noValidate>
      <div role="group" aria-label="Side" className="grid grid-cols-2 gap-1">
        <button type="button" aria-pressed={draft.side === "buy"} className={`btn ${draft.side === "buy" ? "btn-buy" : ""}`} onClick={() => update({ side: "buy" })}>Buy</button>
        <button type="button" aria-pressed={draft.side === "sell"} className={`btn ${draft.side === "sell" ? "btn-sell" : ""}`} onClick={() => update({ side: "sell" })}>Sell</button>
      </div>
      <div>
        <label htmlFor={field("type")} className="text-xs text-muted">Order type</label>
        <select id={field("type")} className="input" value={draft.type}
          onChange={(e) => {
            const type = e.target.value as OrderKind;
            const tifs = tifChoices(type);
            update({ type, timeInForce: tifs.includes(draft.timeInForce) ? draft.timeInForce : tifs[0]!, postOnly: type === "limit" && draft.postOnly });
          }}>
          {TYPES.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
        </select>
      </div>
      {isStop(draft.type) && (
        <NumberField id={field("stop")} label={`Stop price (${symbol.quote})`} value={draft.stopPrice} error={show("stopPrice")}
          onChange={(v) => update({ stopPrice: v })} step={symbol.tick_size} />
      )}
      {hasPrice(draft.type) && (
        <NumberField id={field("price")} label={`Price (${symbol.quote})`} value={draft.price} error={show("price")}
          onChange={(v) => update({ price: v })} step={symbol.tick_size} />
      )}
      <NumberField id={field("qty")} label={`Quantity (${symbol.base})`} value={draft.quantity} error={show("quantity")}
        onChange={(v) => update({ quantity: v })} step={symbol.lot_size} />
      <div role="group" aria-label="Share of balance" className="grid grid-cols-4 gap-1">
        {FRACTIONS.map((f) => (
          <button key={f} type="button" className="btn py-0.5 text-xs" disabled={!session}
            onClick={() => setFraction(f)} aria-label={`${dec(f).mul(100).toFixed(0)}% of available balance`}>
            {dec(f).mul(100).toFixed(0)}%
          </button>
        ))}
      </div>
      <details className="text-xs">
        <summary className="cursor-pointer text-muted">Advanced: time in force, iceberg, post-only, self-trade</summary>
        <div className="mt-2 flex flex-col gap-2">
          <div>
            <label htmlFor={field("tif")} className="text-muted">Time in force</label>
            <select id={field("tif")} className="input" value={draft.timeInForce} onChange={(e) => update({ timeInForce: e.target.value as TimeInForce })}>
              {tifChoices(draft.type).map((t) => <option key={t} value={t}>{{ gtc: "Good till cancelled (GTC)", ioc: "Immediate or cancel (IOC)", fok: "Fill or kill (FOK)", gtd: "Good till date (GTD)" }[t]}</option>)}
            </select>
          </div>
          {draft.timeInForce === "gtd" && (
            <div>
              <label htmlFor={field("expire")} className="text-muted">Expires at (your time zone)</label>
              <input id={field("expire")} type="datetime-local" className="input" value={draft.expireAt}
                aria-invalid={show("expireAt") ? true : undefined} aria-describedby={show("expireAt") ? `${field("expire")}-err` : undefined}
                onChange={(e) => update({ expireAt: e.target.value })} />
              {show("expireAt") && <p id={`${field("expire")}-err`} className="field-error">{show("expireAt")}</p>}
            </div>
          )}
          {hasPrice(draft.type) && (
            <NumberField id={field("display")} label={`Iceberg: visible quantity (${symbol.base})`} value={draft.displayQuantity}
              error={show("displayQuantity")} onChange={(v) => update({ displayQuantity: v })} step={symbol.lot_size} />
          )}
          {draft.type === "limit" && (
            <label className="flex items-center gap-2">
              <input type="checkbox" checked={draft.postOnly} onChange={(e) => update({ postOnly: e.target.checked })} />
              Post-only (never takes liquidity)
            </label>
          )}
          <div>
            <label htmlFor={field("stp")} className="text-muted">Self-trade prevention</label>
            <select id={field("stp")} className="input" value={draft.stp} onChange={(e) => update({ stp: e.target.value as Stp })}>
              {STPS.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
            </select>
          </div>
          <div>
            <label htmlFor={field("coid")} className="text-muted">Client order id (optional)</label>
            <input id={field("coid")} className="input" value={draft.clientOrderId} maxLength={64}
              onChange={(e) => update({ clientOrderId: e.target.value })} />
            {show("clientOrderId") && <p className="field-error">{show("clientOrderId")}</p>}
          </div>
        </div>
      </details>
      <dl className="num grid grid-cols-2 gap-x-2 text-xs text-muted">
        <dt>Available</dt>
        <dd className="text-right" data-testid="form-available">
          {draft.side === "buy" ? `${formatFixed(quote, quoteDecimals, true)} ${symbol.quote}` : `${formatFixed(base, qtyDecimals(symbol), true)} ${symbol.base}`}
        </dd>
        <dt>{draft.side === "buy" ? "Cost with fee (at most)" : "Value"}</dt>
        <dd className="text-right">{estimate ? `${formatFixed(estimate, quoteDecimals, true)} ${symbol.quote}` : "—"}</dd>
        <dt>Fees</dt><dd className="text-right">maker {pct(symbol.maker_fee)} / taker {pct(symbol.taker_fee)}</dd>
      </dl>
      {touched && errors.form && <p className="field-error" role="alert">{errors.form}</p>}
      {serverError && <p className="rounded bg-down/15 px-2 py-1 text-xs text-[#ff8a99]" role="alert" data-testid="order-error">{serverError}</p>}
      {session ? (
        <button type="submit" disabled={busy || symbol.halted} className={`btn ${draft.side === "buy" ? "btn-buy" : "btn-sell"}`}>
          Place order
        </button>
      ) : (
        <p className="text-center text-xs"><Link to="/signin">Sign in</Link> or <Link to="/signup">sign up</Link> to trade.</p>
      )}
    </form>
  );
}

function pct(rate: string): string {
  return `${new Decimal(rate).mul(100).toFixed()}%`;
}

function fieldTouched(draft: OrderDraft, field: keyof Errors): boolean {
  const value = field === "form" ? undefined : draft[field];
  return typeof value === "string" && value !== "";
}

function NumberField({ id, label, value, error, onChange, step }: {
  id: string; label: string; value: string; error: string | undefined; onChange: (v: string) => void; step: string;
}) {
  return (
    <div>
      <label htmlFor={id} className="text-xs text-muted">{label}</label>
      <input id={id} className="input num" inputMode="decimal" autoComplete="off" value={value} placeholder={step}
        aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : undefined}
        onChange={(e) => onChange(e.target.value.replace(",", "."))} />
      {error && <p id={`${id}-err`} className="field-error">{error}</p>}
    </div>
  );
}
