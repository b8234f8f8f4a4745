import { useEffect, useId, useMemo, useRef, useState, type ChangeEvent } from "react";
import { useForm, type Resolver, type UseFormRegisterReturn } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { useQueryClient } from "@tanstack/react-query";
import { api, ApiError } from "../api/client";
import { useAssetDecimals, useSession } from "../hooks";
import { Decimal, dec, formatFixed, parseDecimal } from "../lib/decimal";
import { available, qtyDecimals, type SymbolInfo } from "../lib/market";
import {
  buyHold, hasPrice, isStop, orderBody, quantityForFraction, quoteForFraction, spendsQuote, tifChoices, valuationPrice,
  type OrderDraft, type OrderKind, type Stp,
} from "../lib/orderForm";
import { orderSchema, type OrderContext } from "../lib/orderSchema";
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
  const balances = useMarket((s) => s.view.balances);
  // the best prices value market orders only: a limit order's form does not redraw with
  // the book (the type is read from the form's own state, before the first render too)
  const [priced, setPriced] = useState(() => useTicket.getState().draft.type);
  const byBook = priced === "market" || priced === "stop_market";
  const bestBid = useMarket((s) => (byBook ? s.view.bids[0]?.[0] : undefined));
  const bestAsk = useMarket((s) => (byBook ? s.view.asks[0]?.[0] : undefined));
  const quoteDecimals = useAssetDecimals(symbol.quote);
  const queries = useQueryClient();
  const push = useToasts((s) => s.push);
  const [serverError, setServerError] = useState<string | null>(null);

  const base = available(balances ?? undefined, symbol.base);
  const quote = available(balances ?? undefined, symbol.quote);
  const market = useMemo(() => ({ bestBid, bestAsk }), [bestBid, bestAsk]);
  // the rules read the balances and the book as they are when the form validates
  const context = useRef<OrderContext>({ market, availableBase: base, availableQuote: quote, quoteDecimals });
  context.current = { market, availableBase: base, availableQuote: quote, quoteDecimals };
  const resolver = useMemo<Resolver<OrderDraft>>(
    () => (values, ctx, options) => zodResolver(orderSchema(symbol, context.current))(values, ctx, options) as ReturnType<Resolver<OrderDraft>>,
    [symbol],
  );
  const form = useForm<OrderDraft>({ defaultValues: useTicket.getState().draft, resolver, mode: "onChange" });
  const { register, setValue, watch, handleSubmit, trigger, reset, formState: { errors, isSubmitting, isSubmitted, dirtyFields } } = form;
  const draft = watch();
  useEffect(() => setPriced(draft.type), [draft.type]);

  // a click on the ladder sets the price
  useEffect(() => useTicket.subscribe((state, before) => {
    if (state.draft.price !== before.draft.price) setValue("price", state.draft.price, { shouldValidate: true, shouldDirty: true });
  }), [setValue]);
  // new balances or a new side: the checks that depend on them run again on what was typed
  useEffect(() => {
    const typed = (Object.keys(dirtyFields) as (keyof OrderDraft)[]).filter((k) => k !== "side" && k !== "type" && k !== "amountIn");
    if (typed.length) void trigger(typed);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [base, quote, draft.side, draft.type, draft.amountIn]);

  const show = (field: keyof OrderDraft) => errors[field]?.message;
  const quoteAmount = spendsQuote(draft);
  const price = valuationPrice(symbol, draft, market);
  const qty = parseDecimal(draft.quantity);
  const estimate = quoteAmount ? parseDecimal(draft.quoteQuantity)
    : price && qty && qty.gt(0) ? draft.side === "buy" ? buyHold(symbol, price, qty, quoteDecimals) : price.mul(qty) : null;

  const setFraction = (fraction: string) => {
    if (quoteAmount) {
      setValue("quoteQuantity", quoteForFraction(dec(fraction), quote, quoteDecimals).toFixed(quoteDecimals), { shouldValidate: true, shouldDirty: true });
      return;
    }
    const q = quantityForFraction(symbol, draft.side, dec(fraction), base, quote, price, quoteDecimals);
    setValue("quantity", q.toFixed(qtyDecimals(symbol)), { shouldValidate: true, shouldDirty: true });
  };

  const submit = handleSubmit(async (values) => {
    setServerError(null);
    if (!session) return;
    try {
      const placed = await api.placeOrder(orderBody(symbol.symbol, values));
      push("success", `Order ${placed.order_id} ${placed.status.replace("_", " ")}`);
      reset({ ...values, quantity: "", quoteQuantity: "", displayQuantity: "", clientOrderId: "" });
      void queries.invalidateQueries({ queryKey: ["orders"] });
    } catch (e) {
      setServerError(e instanceof ApiError ? e.message : "The order could not be sent.");
    }
  });

  const field = (name: string) => `${id}-${name}`;
  return (
    <form className="flex flex-col gap-2 p-3" onSubmit={(e) => void submit(e)} aria-label="Order entry" noValidate>
      <div role="group" aria-label="Side" className="grid grid-cols-2 gap-1">
        <button type="button" aria-pressed={draft.side === "buy"} className={`btn ${draft.side === "buy" ? "btn-buy" : ""}`} onClick={() => setValue("side", "buy")}>Buy</button>
        <button type="button" aria-pressed={draft.side === "sell"} className={`btn ${draft.side === "sell" ? "btn-sell" : ""}`} onClick={() => setValue("side", "sell")}>Sell</button>
      </div>
      <div>
        <label htmlFor={field("type")} className="text-xs text-muted">Order type</label>
        <select id={field("type")} className="input" {...register("type", {
          onChange: (e: ChangeEvent<HTMLSelectElement>) => {
            const type = e.target.value as OrderKind;
            const tifs = tifChoices(type);
            if (!tifs.includes(draft.timeInForce)) setValue("timeInForce", tifs[0]!);
            if (type !== "limit") setValue("postOnly", false);
          },
        })}>
          {TYPES.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
        </select>
      </div>
      {isStop(draft.type) && (
        <NumberField id={field("stop")} label={`Stop price (${symbol.quote})`} error={show("stopPrice")} step={symbol.tick_size} {...register("stopPrice", { setValueAs: comma })} />
      )}
      {hasPrice(draft.type) && (
        <NumberField id={field("price")} label={`Price (${symbol.quote})`} error={show("price")} step={symbol.tick_size} {...register("price", { setValueAs: comma })} />
      )}
      {draft.type === "market" && draft.side === "buy" && (
        <div role="radiogroup" aria-label="Size the buy by" className="flex gap-3 text-xs">
          <label className="flex items-center gap-1"><input type="radio" value="base" {...register("amountIn")} /> By quantity ({symbol.base})</label>
          <label className="flex items-center gap-1"><input type="radio" value="quote" {...register("amountIn")} /> By amount ({symbol.quote})</label>
        </div>
      )}
      {quoteAmount
        ? <NumberField id={field("spend")} label={`Spend (${symbol.quote}, fees included)`} error={show("quoteQuantity")}
            step={formatFixed("0", quoteDecimals).replace(/0$/, "1")} {...register("quoteQuantity", { setValueAs: comma })} />
        : <NumberField id={field("qty")} label={`Quantity (${symbol.base})`} error={show("quantity")} step={symbol.lot_size} {...register("quantity", { setValueAs: comma })} />}
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
            <select id={field("tif")} className="input" {...register("timeInForce")}>
              {tifChoices(draft.type).map((t) => <option key={t} value={t}>{{ gtc: "Good till cancelled (GTC)", ioc: "Immediate or cancel (IOC)", fok: "Fill or kill (FOK)", gtd: "Good till date (GTD)" }[t]}</option>)}
            </select>
          </div>
          {draft.timeInForce === "gtd" && (
            <div>
              <label htmlFor={field("expire")} className="text-muted">Expires at (your time zone)</label>
              <input id={field("expire")} type="datetime-local" className="input"
                aria-invalid={show("expireAt") ? true : undefined} aria-describedby={show("expireAt") ? `${field("expire")}-err` : undefined}
                {...register("expireAt")} />
              {show("expireAt") && <p id={`${field("expire")}-err`} className="field-error">{show("expireAt")}</p>}
            </div>
          )}
          {hasPrice(draft.type) && (
            <NumberField id={field("display")} label={`Iceberg: visible quantity (${symbol.base})`}
              error={show("displayQuantity")} step={symbol.lot_size} {...register("displayQuantity", { setValueAs: comma })} />
          )}
          {draft.type === "limit" && (
            <label className="flex items-center gap-2">
              <input type="checkbox" {...register("postOnly")} />
              Post-only (never takes liquidity)
            </label>
          )}
          <div>
            <label htmlFor={field("stp")} className="text-muted">Self-trade prevention</label>
            <select id={field("stp")} className="input" {...register("stp")}>
              {STPS.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
            </select>
          </div>
          <div>
            <label htmlFor={field("coid")} className="text-muted">Client order id (optional)</label>
            <input id={field("coid")} className="input" maxLength={64} {...register("clientOrderId")} />
            {show("clientOrderId") && <p className="field-error">{show("clientOrderId")}</p>}
          </div>
        </div>
      </details>
      <dl className="num grid grid-cols-2 gap-x-2 text-xs text-muted">
        <dt>Available</dt>
        <dd className="text-right" data-testid="form-available">
          {draft.side === "buy" ? `${formatFixed(quote, quoteDecimals, true)} ${symbol.quote}` : `${formatFixed(base, qtyDecimals(symbol), true)} ${symbol.base}`}
        </dd>
        <dt>{quoteAmount ? "Spend (at most)" : draft.side === "buy" ? "Cost with fee (at most)" : "Value"}</dt>
        <dd className="text-right">{estimate ? `${formatFixed(estimate, quoteDecimals, true)} ${symbol.quote}` : "—"}</dd>
        <dt>Fees</dt><dd className="text-right">maker {pct(symbol.maker_fee)} / taker {pct(symbol.taker_fee)}</dd>
      </dl>
      {isSubmitted && errors.root?.message && <p className="field-error" role="alert">{errors.root.message}</p>}
      {serverError && <p className="rounded bg-down/15 px-2 py-1 text-xs text-[#ff8a99]" role="alert" data-testid="order-error">{serverError}</p>}
      {session ? (
        <button type="submit" disabled={isSubmitting || symbol.halted} className={`btn ${draft.side === "buy" ? "btn-buy" : "btn-sell"}`}>
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

/** Decimal commas typed as points. */
function comma(value: unknown): string {
  return String(value ?? "").replace(",", ".");
}

type FieldProps = { id: string; label: string; error: string | undefined; step: string } & UseFormRegisterReturn;

function NumberField({ id, label, error, step, ...field }: FieldProps) {
  return (
    <div>
      <label htmlFor={id} className="text-xs text-muted">{label}</label>
      <input id={id} className="input num" inputMode="decimal" autoComplete="off" placeholder={step}
        aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : undefined} {...field} />
      {error && <p id={`${id}-err`} className="field-error">{error}</p>}
    </div>
  );
}
