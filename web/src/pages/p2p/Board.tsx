// The public ad board: filters by side, asset and fiat; each ad with its maker's stats;
// a signed-in user takes an ad from its row and lands in the trade room.
import { useId, useState, type FormEvent } from "react";
import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useSearchParams } from "react-router";
import { api } from "../../api/client";
import { p2p } from "../../api/p2p";
import { useAssetDecimals, useAssets, useSession } from "../../hooks";
import { formatFixed } from "../../lib/decimal";
import { fiatAmount, formatMargin, newKey, validateTake, type AdView, type MakerStats, type P2PSide } from "../../lib/p2p";
import { usePoll } from "../../stores/p2p";
import { errorText, formatFiat, P2PNav, Stats, useFiats } from "./common";

export default function Board() {
  const id = useId();
  const [params, setParams] = useSearchParams();
  const side = (params.get("side") ?? "sell") as P2PSide;
  const asset = params.get("asset") ?? "BTC";
  const fiat = params.get("fiat") ?? "USD";
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    next.set(key, value);
    setParams(next, { replace: true });
  };
  const { data: assets = [] } = useAssets();
  const fiats = useFiats();
  const cryptos = assets.map((a) => a.asset).filter((a) => !fiats.codes.includes(a));
  const poll = usePoll(30_000, 5000);
  const board = useQuery({ queryKey: ["p2p-board", side, asset, fiat], queryFn: () => p2p.board({ side, asset, fiat }), refetchInterval: poll });
  const [taking, setTaking] = useState<number | null>(null);
  const session = useSession();
  const ads = board.data ?? [];
  // each maker's stats (completed trades, completion rate, median release time)
  const makers = [...new Set(ads.map((ad) => ad.maker_id))];
  const stats = useQueries({
    queries: makers.map((uid) => ({ queryKey: ["p2p-stats", uid], queryFn: () => p2p.stats(uid), staleTime: 60_000 })),
  });
  const statsOf = new Map(makers.map((uid, i) => [uid, stats[i]?.data ?? null]));
  return (
    <main className="flex flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">P2P: buy and sell with bank transfers, escrow held by Matchbook</h1>
      <P2PNav />
      <form className="panel flex flex-wrap items-end gap-3 p-3" aria-label="Filter ads" onSubmit={(e) => e.preventDefault()}>
        <fieldset className="flex gap-1">
          <legend className="text-xs text-muted">I want to</legend>
          {(["sell", "buy"] as const).map((s) => (
            <label key={s} className={`btn cursor-pointer py-1 text-xs ${side === s ? (s === "sell" ? "btn-buy" : "btn-sell") : ""}`}>
              <input type="radio" className="sr-only" name={`${id}-side`} checked={side === s} onChange={() => set("side", s)} />
              {/* a sell ad is what a buyer takes */}
              {s === "sell" ? "Buy" : "Sell"}
            </label>
          ))}
        </fieldset>
        <div>
          <label htmlFor={`${id}-asset`} className="text-xs text-muted">Asset</label>
          <select id={`${id}-asset`} className="input" value={asset} onChange={(e) => set("asset", e.target.value)}>
            {(cryptos.length ? cryptos : [asset]).map((a) => <option key={a}>{a}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor={`${id}-fiat`} className="text-xs text-muted">Fiat</label>
          <select id={`${id}-fiat`} className="input" value={fiat} onChange={(e) => set("fiat", e.target.value)}>
            {fiats.codes.map((f) => <option key={f}>{f}</option>)}
          </select>
        </div>
        {session && <Link to="/p2p/new" className="btn btn-buy ml-auto no-underline">Post an ad</Link>}
      </form>
      <section className="panel" aria-labelledby={`${id}-ads`}>
        <h2 id={`${id}-ads`} className="panel-title">
          {side === "sell" ? `Ads selling ${asset} for ${fiat}` : `Ads buying ${asset} for ${fiat}`}
        </h2>
        {board.error && <p role="alert" className="p-3 text-down">{board.error.message}</p>}
        <table className="grid-table" aria-label="Ads" data-testid="p2p-board">
          <thead><tr>
            <th scope="col">Maker</th><th scope="col">Price ({fiat})</th><th scope="col">Available ({asset})</th>
            <th scope="col">Limits ({asset})</th><th scope="col">Payment</th><th scope="col">Window</th><th scope="col"><span className="sr-only">Take</span></th>
          </tr></thead>
          <tbody>
            {ads.map((ad) => (
              <AdRow key={ad.ad_id} ad={ad} stats={statsOf.get(ad.maker_id) ?? null} open={taking === ad.ad_id} onToggle={() => setTaking(taking === ad.ad_id ? null : ad.ad_id)} signedIn={!!session}
                mine={ad.maker_id === session?.userId} />
            ))}
          </tbody>
        </table>
        {board.isSuccess && ads.length === 0 && <p className="p-3 text-muted">No open ads match. Post one yourself.</p>}
      </section>
    </main>
  );
}

function AdRow({ ad, stats, open, onToggle, signedIn, mine }: {
  ad: AdView; stats: MakerStats | null; open: boolean; onToggle: () => void; signedIn: boolean; mine: boolean;
}) {
  const decimals = useAssetDecimals(ad.asset);
  const verb = ad.side === "sell" ? "Buy" : "Sell";
  return (
    <>
      <tr data-ad-id={ad.ad_id} className="border-t border-line">
        <td className="py-1.5">
          <div className="font-semibold">Trader #{ad.maker_id}{mine && <span className="ml-1 text-xs text-accent">(you)</span>}</div>
          <Stats stats={stats} />
        </td>
        <td className="num">
          {ad.price ? formatFiat(ad.price) : "market"}
          {ad.price_margin_bps != null && <div className="text-xs text-muted">{formatMargin(ad.price_margin_bps)} over {ad.price_symbol} mid</div>}
        </td>
        <td className="num">{formatFixed(ad.remaining, decimals, true)}</td>
        <td className="num">{ad.min_quantity} – {ad.max_quantity}</td>
        <td className="text-xs">{(ad.payment_methods ?? []).map((m) => m.name).join(", ") || "—"}</td>
        <td className="text-xs">{Math.round(ad.payment_window_seconds / 60)} min</td>
        <td>
          {!signedIn ? <Link to="/signin" className="text-xs">Sign in to {verb.toLowerCase()}</Link>
            : mine ? <span className="text-xs text-muted">your ad</span>
              : <button type="button" className={`btn py-0.5 text-xs ${ad.side === "sell" ? "btn-buy" : "btn-sell"}`} aria-expanded={open}
                aria-label={`${verb} ${ad.asset} from ad ${ad.ad_id}`} onClick={onToggle}>{verb} {ad.asset}</button>}
        </td>
      </tr>
      {open && <tr><td colSpan={7} className="bg-bg"><TakeForm ad={ad} decimals={decimals} /></td></tr>}
    </>
  );
}

function TakeForm({ ad, decimals }: { ad: AdView; decimals: number }) {
  const id = useId();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [quantity, setQuantity] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [key] = useState(() => newKey("take"));
  // taking a sell ad: pay with one of the ad's methods; taking a buy ad: be paid to one of mine
  const mine = useQuery({ queryKey: ["p2p-payment-methods"], queryFn: p2p.paymentMethods, enabled: ad.side === "buy" });
  const balances = useQuery({ queryKey: ["balances"], queryFn: api.balances, enabled: ad.side === "buy" });
  const methods = ad.side === "sell" ? (ad.payment_methods ?? []) : (mine.data ?? []);
  const [method, setMethod] = useState<number | null>(null);
  const chosen = method ?? methods[0]?.method_id ?? null;
  const available = balances.data?.find((b) => b.asset === ad.asset)?.available ?? null;
  const check = validateTake(quantity, ad, decimals, ad.side === "buy" ? available : null);
  const fiatDecimals = useFiats().decimals(ad.fiat);
  const preview = "quantity" in check && ad.price && fiatDecimals !== undefined
    ? fiatAmount(check.quantity, ad.price, fiatDecimals) : null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if ("error" in check) { setError(check.error); return; }
    if (ad.side === "buy" && chosen === null) { setError("Add a payment method to be paid to first."); return; }
    setError(null);
    setBusy(true);
    try {
      const trade = await p2p.take(ad.ad_id, check.quantity, chosen, key);
      await queries.invalidateQueries({ queryKey: ["p2p-board"] });
      navigate(`/p2p/trades/${trade.trade_id}`);
    } catch (err) {
      setError(errorText(err, "The ad could not be taken."));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="flex flex-wrap items-end gap-3 p-3" onSubmit={submit} aria-label={`Take ad ${ad.ad_id}`} noValidate>
      <div className="w-48">
        <label htmlFor={`${id}-q`} className="text-xs text-muted">Quantity ({ad.asset})</label>
        <input id={`${id}-q`} className="input num" inputMode="decimal" value={quantity} aria-invalid={!!error}
          aria-describedby={`${id}-hint`} onChange={(e) => { setQuantity(e.target.value); setError(null); }} />
      </div>
      <div className="w-56">
        <label htmlFor={`${id}-m`} className="text-xs text-muted">{ad.side === "sell" ? "I pay with" : "I am paid to"}</label>
        <select id={`${id}-m`} className="input" value={chosen ?? ""} onChange={(e) => setMethod(Number(e.target.value))}>
          {methods.map((m) => <option key={m.method_id} value={m.method_id}>{m.name}</option>)}
        </select>
      </div>
      <p id={`${id}-hint`} className="text-xs text-muted">
        {preview ? <>You {ad.side === "sell" ? "pay" : "receive"} <strong className="num text-white" data-testid="fiat-preview">{formatFiat(preview)} {ad.fiat}</strong></>
          : `Between ${ad.min_quantity} and ${ad.max_quantity} ${ad.asset}.`}
        {ad.terms && <span className="block">Terms: {ad.terms}</span>}
      </p>
      <button type="submit" className={`btn ${ad.side === "sell" ? "btn-buy" : "btn-sell"}`} disabled={busy}>
        {ad.side === "sell" ? "Open the trade and pay" : "Open the trade (escrow my asset)"}
      </button>
      {error && <p role="alert" className="field-error w-full">{error}</p>}
    </form>
  );
}
