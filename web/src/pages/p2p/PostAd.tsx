// Post an ad: side, asset and fiat; a fixed price or a margin over a market's mid;
// total, minimum and maximum per trade; accepted payment methods; the payment window
// and the terms. Checked in decimals before it is sent (lib/p2p.ts validateAd).
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Navigate, useNavigate } from "react-router";
import { api } from "../../api/client";
import { p2p } from "../../api/p2p";
import { useAssets, useSession, useSymbols } from "../../hooks";
import { validateAd, type AdDraft, type AdErrors } from "../../lib/p2p";
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
  const [draft, setDraft] = useState<AdDraft>(INITIAL);
  const [errors, setErrors] = useState<AdErrors>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { data: assets = [] } = useAssets();
  const { data: symbols = [] } = useSymbols();
  const methods = useQuery({ queryKey: ["p2p-payment-methods"], queryFn: p2p.paymentMethods });
  const balances = useQuery({ queryKey: ["balances"], queryFn: api.balances });
  const fiats = useFiats();
  const cryptos = assets.filter((a) => !fiats.codes.includes(a.asset));
  const assetDecimals = assets.find((a) => a.asset === draft.asset)?.decimals ?? 8;
  const available = balances.data?.find((b) => b.asset === draft.asset)?.available ?? null;
  const priceSymbols = symbols.filter((s) => s.base === draft.asset && s.quote === draft.fiat);
  const change = (part: Partial<AdDraft>) => {
    setDraft((d) => ({ ...d, ...part }));
    // an edited field's error goes until the next submit
    setErrors((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !(k in part))) as AdErrors);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const withSymbol = draft.priceMode === "margin" && !draft.priceSymbol && priceSymbols[0] ? { ...draft, priceSymbol: priceSymbols[0].symbol } : draft;
    const fiatDecimals = fiats.decimals(withSymbol.fiat);
    if (fiatDecimals === undefined) {
      setError(`The desk's fiat currencies have not loaded yet, or it does not take ${withSymbol.fiat}.`);
      return;
    }
    const { errors: found, body } = validateAd(withSymbol, { assetDecimals, fiatDecimals, available });
    setErrors(found);
    setError(null);
    if (!body) return;
    setBusy(true);
    try {
      const ad = await p2p.postAd(body);
      await queries.invalidateQueries({ queryKey: ["p2p-my-ads"] });
      await queries.invalidateQueries({ queryKey: ["p2p-board"] });
      navigate(`/p2p/mine?posted=${ad.ad_id}`);
    } catch (err) {
      setError(errorText(err, "The ad could not be posted."));
    } finally {
      setBusy(false);
    }
  };

  const field = (name: keyof AdDraft, label: string, input: ReactNode, hint?: string) => (
    <div>
      <label htmlFor={`${id}-${name}`} className="text-xs text-muted">{label}</label>
      {input}
      {hint && !errors[name] && <p id={`${id}-${name}-hint`} className="text-xs text-muted">{hint}</p>}
      {errors[name] && <p id={`${id}-${name}-error`} className="field-error">{errors[name]}</p>}
    </div>
  );
  const described = (name: keyof AdDraft) => ({
    id: `${id}-${name}`, "aria-invalid": !!errors[name],
    "aria-describedby": errors[name] ? `${id}-${name}-error` : `${id}-${name}-hint`,
  });

  return (
    <main className="mx-auto flex max-w-3xl flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Post an ad</h1>
      <P2PNav />
      <form className="panel grid grid-cols-2 gap-3 p-4" onSubmit={submit} aria-label="Post an ad" noValidate>
        <fieldset className="col-span-2 flex gap-2">
          <legend className="mb-1 text-xs text-muted">I want to</legend>
          {(["sell", "buy"] as const).map((s) => (
            <label key={s} className={`btn cursor-pointer ${draft.side === s ? (s === "sell" ? "btn-sell" : "btn-buy") : ""}`}>
              <input type="radio" className="sr-only" name={`${id}-side`} checked={draft.side === s} onChange={() => change({ side: s })} />
              {s === "sell" ? "Sell" : "Buy"} {draft.asset}
            </label>
          ))}
          <p className="self-center text-xs text-muted">
            {draft.side === "sell" ? `A sell ad puts its whole quantity in escrow now${available ? ` (${available} ${draft.asset} available)` : ""}.`
              : "A buy ad escrows the seller's asset when they take it."}
          </p>
        </fieldset>
        {field("asset", "Asset", (
          <select {...described("asset")} className="input" value={draft.asset} onChange={(e) => change({ asset: e.target.value, priceSymbol: "" })}>
            {(cryptos.length ? cryptos.map((a) => a.asset) : ["BTC"]).map((a) => <option key={a}>{a}</option>)}
          </select>
        ))}
        {field("fiat", "Fiat currency", (
          <select {...described("fiat")} className="input" value={draft.fiat} onChange={(e) => change({ fiat: e.target.value, priceSymbol: "" })}>
            {fiats.codes.map((f) => <option key={f}>{f}</option>)}
          </select>
        ))}
        <fieldset className="col-span-2 flex gap-4">
          <legend className="mb-1 text-xs text-muted">Price</legend>
          <label className="flex items-center gap-1"><input type="radio" name={`${id}-mode`} checked={draft.priceMode === "fixed"} onChange={() => change({ priceMode: "fixed" })} />Fixed price</label>
          <label className="flex items-center gap-1"><input type="radio" name={`${id}-mode`} checked={draft.priceMode === "margin"} onChange={() => change({ priceMode: "margin" })} />Margin over a market's mid</label>
        </fieldset>
        {draft.priceMode === "fixed" ? (
          field("price", `Price (${draft.fiat} per ${draft.asset})`, <input {...described("price")} className="input num" inputMode="decimal" value={draft.price} onChange={(e) => change({ price: e.target.value })} />)
        ) : (
          <>
            {field("marginPct", "Margin (%)", <input {...described("marginPct")} className="input num" inputMode="decimal" value={draft.marginPct} onChange={(e) => change({ marginPct: e.target.value })} />,
              "Over (+) or under (-) the mid; the price is frozen when a trade opens.")}
            {field("priceSymbol", "Market", (
              <select {...described("priceSymbol")} className="input" value={draft.priceSymbol || priceSymbols[0]?.symbol || ""} onChange={(e) => change({ priceSymbol: e.target.value })}>
                {priceSymbols.length === 0 && <option value="">No {draft.asset}-{draft.fiat} market</option>}
                {priceSymbols.map((s) => <option key={s.symbol}>{s.symbol}</option>)}
              </select>
            ))}
          </>
        )}
        {field("quantity", `Total quantity (${draft.asset})`, <input {...described("quantity")} className="input num" inputMode="decimal" value={draft.quantity} onChange={(e) => change({ quantity: e.target.value })} />)}
        <div className="grid grid-cols-2 gap-2">
          {field("minQuantity", "Minimum per trade", <input {...described("minQuantity")} className="input num" inputMode="decimal" value={draft.minQuantity} onChange={(e) => change({ minQuantity: e.target.value })} />)}
          {field("maxQuantity", "Maximum per trade", <input {...described("maxQuantity")} className="input num" inputMode="decimal" value={draft.maxQuantity} onChange={(e) => change({ maxQuantity: e.target.value })} />)}
        </div>
        <fieldset className="col-span-2" aria-describedby={errors.paymentMethodIds ? `${id}-pm-error` : undefined}>
          <legend className="mb-1 text-xs text-muted">{draft.side === "sell" ? "Payment methods you accept" : "Payment methods you pay with"}</legend>
          <div className="flex flex-wrap gap-3">
            {(methods.data ?? []).map((m) => (
              <label key={m.method_id} className="flex items-center gap-1">
                <input type="checkbox" checked={draft.paymentMethodIds.includes(m.method_id)}
                  onChange={(e) => change({ paymentMethodIds: e.target.checked ? [...draft.paymentMethodIds, m.method_id] : draft.paymentMethodIds.filter((x) => x !== m.method_id) })} />
                {m.name}
              </label>
            ))}
            {methods.data?.length === 0 && <span className="text-xs">You have no payment method yet: <Link to="/p2p/payment-methods">add one</Link>.</span>}
          </div>
          {errors.paymentMethodIds && <p id={`${id}-pm-error`} className="field-error">{errors.paymentMethodIds}</p>}
        </fieldset>
        {field("windowMinutes", "Payment window (minutes)", <input {...described("windowMinutes")} className="input num" inputMode="numeric" value={draft.windowMinutes} onChange={(e) => change({ windowMinutes: e.target.value })} />,
          "5 to 360 minutes for the buyer to pay.")}
        <div className="col-span-2">
          <label htmlFor={`${id}-terms`} className="text-xs text-muted">Terms</label>
          <textarea {...described("terms")} className="input h-20" maxLength={1000} value={draft.terms} onChange={(e) => change({ terms: e.target.value })} />
          {errors.terms && <p id={`${id}-terms-error`} className="field-error">{errors.terms}</p>}
        </div>
        {error && <p role="alert" className="field-error col-span-2">{error}</p>}
        <button type="submit" className={`btn col-span-2 ${draft.side === "sell" ? "btn-sell" : "btn-buy"}`} disabled={busy}>Post the ad</button>
      </form>
    </main>
  );
}
