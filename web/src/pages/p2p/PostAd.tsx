// Post an ad: side, asset and fiat; a fixed price or a margin over a market's mid;
// total, minimum and maximum per trade; accepted payment methods; the payment window
// and the terms. Checked in decimals before it is sent (react-hook-form with the zod
// schema of lib/p2pForms.ts, over lib/p2p.ts validateAd).
import { useEffect, useId, useMemo, useState, type ReactNode } from "react";
import { useForm, type Resolver } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Navigate, useNavigate } from "react-router";
import { api } from "../../api/client";
import { p2p } from "../../api/p2p";
import { useAssets, useSession, useSymbols } from "../../hooks";
import { validateAd, type AdDraft } from "../../lib/p2p";
import { adSchema, withDefaultSymbol } from "../../lib/p2pForms";
import { errorText, P2PNav, useFiats } from "./common";

export default function PostAd() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  return <PostAdPage />;
}

const INITIAL: AdDraft = {
  side: "sell", asset: "BTC", fiat: "USD", priceMode: "fixed", price: "", marginPct: "0", priceSymbol: "",
  quantity: "", minQuantity: "", maxQuantity: "", paymentMethodIds: [], windowMinutes: "15", terms: "",
};

function PostAdPage() {
  const id = useId();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const { data: assets = [] } = useAssets();
  const { data: symbols = [] } = useSymbols();
  const methods = useQuery({ queryKey: ["p2p-payment-methods"], queryFn: p2p.paymentMethods });
  const balances = useQuery({ queryKey: ["balances"], queryFn: api.balances });
  const fiats = useFiats();
  const [shown, setShown] = useState<Pick<AdDraft, "asset" | "fiat">>({ asset: INITIAL.asset, fiat: INITIAL.fiat });
  const assetDecimals = assets.find((a) => a.asset === shown.asset)?.decimals ?? 8;
  const available = balances.data?.find((b) => b.asset === shown.asset)?.available ?? null;
  const priceSymbols = symbols.filter((s) => s.base === shown.asset && s.quote === shown.fiat);
  const context = { assetDecimals, fiatDecimals: fiats.decimals(shown.fiat), available, defaultSymbol: priceSymbols[0]?.symbol ?? "" };
  const resolver = useMemo<Resolver<AdDraft>>(() => zodResolver(adSchema(context)) as Resolver<AdDraft>,
    [context.assetDecimals, context.fiatDecimals, context.available, context.defaultSymbol]); // eslint-disable-line react-hooks/exhaustive-deps
  const { register, handleSubmit, watch, setValue, formState: { errors, isSubmitting, isSubmitted } } =
    useForm<AdDraft>({ defaultValues: INITIAL, resolver });
  const draft = watch();
  if (draft.asset !== shown.asset || draft.fiat !== shown.fiat) setShown({ asset: draft.asset, fiat: draft.fiat });
  const cryptos = assets.filter((a) => !fiats.codes.includes(a.asset));
  // a margin ad follows the first market of its asset and fiat unless another is chosen
  useEffect(() => setValue("priceSymbol", context.defaultSymbol), [context.defaultSymbol, setValue]);

  const submit = async (values: AdDraft) => {
    const { body } = validateAd(withDefaultSymbol(values, context.defaultSymbol),
      { assetDecimals, fiatDecimals: context.fiatDecimals ?? 2, available });
    if (!body) return; // the resolver found the same errors first
    setError(null);
    try {
      const ad = await p2p.postAd(body);
      await queries.invalidateQueries({ queryKey: ["p2p-my-ads"] });
      await queries.invalidateQueries({ queryKey: ["p2p-board"] });
      navigate(`/p2p/mine?posted=${ad.ad_id}`);
    } catch (err) {
      setError(errorText(err, "The ad could not be posted."));
    }
  };
  const message = (name: keyof AdDraft) => errors[name]?.message;

  const field = (name: keyof AdDraft, label: string, input: ReactNode, hint?: string) => (
    <div>
      <label htmlFor={`${id}-${name}`} className="text-xs text-muted">{label}</label>
      {input}
      {hint && !message(name) && <p id={`${id}-${name}-hint`} className="text-xs text-muted">{hint}</p>}
      {message(name) && <p id={`${id}-${name}-error`} className="field-error">{message(name)}</p>}
    </div>
  );
  const described = (name: Exclude<keyof AdDraft, "paymentMethodIds">) => ({
    id: `${id}-${name}`, "aria-invalid": !!errors[name],
    "aria-describedby": errors[name] ? `${id}-${name}-error` : `${id}-${name}-hint`,
    ...register(name),
  });

  return (
    <main className="mx-auto flex max-w-3xl flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Post an ad</h1>
      <P2PNav />
      <form className="panel grid grid-cols-2 gap-3 p-4" onSubmit={handleSubmit(submit)} aria-label="Post an ad" noValidate>
        <fieldset className="col-span-2 flex gap-2">
          <legend className="mb-1 text-xs text-muted">I want to</legend>
          {(["sell", "buy"] as const).map((s) => (
            <label key={s} className={`btn cursor-pointer ${draft.side === s ? (s === "sell" ? "btn-sell" : "btn-buy") : ""}`}>
              <input type="radio" className="sr-only" value={s} {...register("side")} />
              {s === "sell" ? "Sell" : "Buy"} {draft.asset}
            </label>
          ))}
          <p className="self-center text-xs text-muted">
            {draft.side === "sell" ? `A sell ad puts its whole quantity in escrow now${available ? ` (${available} ${draft.asset} available)` : ""}.`
              : "A buy ad escrows the seller's asset when they take it."}
          </p>
        </fieldset>
        {field("asset", "Asset", (
          <select {...described("asset")} className="input">
            {(cryptos.length ? cryptos.map((a) => a.asset) : ["BTC"]).map((a) => <option key={a}>{a}</option>)}
          </select>
        ))}
        {field("fiat", "Fiat currency", (
          <select {...described("fiat")} className="input">
            {fiats.codes.map((f) => <option key={f}>{f}</option>)}
          </select>
        ))}
        <fieldset className="col-span-2 flex gap-4">
          <legend className="mb-1 text-xs text-muted">Price</legend>
          <label className="flex items-center gap-1"><input type="radio" value="fixed" {...register("priceMode")} />Fixed price</label>
          <label className="flex items-center gap-1"><input type="radio" value="margin" {...register("priceMode")} />Margin over a market's mid</label>
        </fieldset>
        {draft.priceMode === "fixed" ? (
          field("price", `Price (${draft.fiat} per ${draft.asset})`, <input {...described("price")} className="input num" inputMode="decimal" />)
        ) : (
          <>
            {field("marginPct", "Margin (%)", <input {...described("marginPct")} className="input num" inputMode="decimal" />,
              "Over (+) or under (-) the mid; the price is frozen when a trade opens.")}
            {field("priceSymbol", "Market", (
              <select {...described("priceSymbol")} className="input">
                {priceSymbols.length === 0 && <option value="">No {draft.asset}-{draft.fiat} market</option>}
                {priceSymbols.map((s) => <option key={s.symbol}>{s.symbol}</option>)}
              </select>
            ))}
          </>
        )}
        {field("quantity", `Total quantity (${draft.asset})`, <input {...described("quantity")} className="input num" inputMode="decimal" />)}
        <div className="grid grid-cols-2 gap-2">
          {field("minQuantity", "Minimum per trade", <input {...described("minQuantity")} className="input num" inputMode="decimal" />)}
          {field("maxQuantity", "Maximum per trade", <input {...described("maxQuantity")} className="input num" inputMode="decimal" />)}
        </div>
        <fieldset className="col-span-2" aria-describedby={errors.paymentMethodIds ? `${id}-pm-error` : undefined}>
          <legend className="mb-1 text-xs text-muted">{draft.side === "sell" ? "Payment methods you accept" : "Payment methods you pay with"}</legend>
          <div className="flex flex-wrap gap-3">
            {(methods.data ?? []).map((m) => (
              <label key={m.method_id} className="flex items-center gap-1">
                <input type="checkbox" checked={draft.paymentMethodIds.includes(m.method_id)}
                  onChange={(e) => setValue("paymentMethodIds", e.target.checked ? [...draft.paymentMethodIds, m.method_id] : draft.paymentMethodIds.filter((x) => x !== m.method_id),
                    { shouldValidate: isSubmitted })} />
                {m.name}
              </label>
            ))}
            {methods.data?.length === 0 && <span className="text-xs">You have no payment method yet: <Link to="/p2p/payment-methods">add one</Link>.</span>}
          </div>
          {errors.paymentMethodIds && <p id={`${id}-pm-error`} className="field-error">{errors.paymentMethodIds.message}</p>}
        </fieldset>
        {field("windowMinutes", "Payment window (minutes)", <input {...described("windowMinutes")} className="input num" inputMode="numeric" />,
          "5 to 360 minutes for the buyer to pay.")}
        <div className="col-span-2">
          <label htmlFor={`${id}-terms`} className="text-xs text-muted">Terms</label>
          <textarea {...described("terms")} className="input h-20" maxLength={1000} />
          {errors.terms && <p id={`${id}-terms-error`} className="field-error">{errors.terms.message}</p>}
        </div>
        {error && <p role="alert" className="field-error col-span-2">{error}</p>}
        <button type="submit" className={`btn col-span-2 ${draft.side === "sell" ? "btn-sell" : "btn-buy"}`} disabled={isSubmitting}>Post the ad</button>
      </form>
    </main>
  );
}
