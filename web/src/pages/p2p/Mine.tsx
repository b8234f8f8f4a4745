// My ads (pause, resume, cancel) and my trades (each opens its trade room).
import { useId } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, Navigate } from "react-router";
import { p2p } from "../../api/p2p";
import { useAssets, useSession } from "../../hooks";
import { formatFixed } from "../../lib/decimal";
import { formatMargin, TERMINAL_STATES, type AdView } from "../../lib/p2p";
import { usePoll } from "../../stores/p2p";
import { formatFiat, P2PNav, StateBadge, useRun } from "./common";

export default function Mine() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  return <MinePage userId={session.userId} />;
}

function MinePage({ userId }: { userId: number }) {
  const id = useId();
  const run = useRun();
  const { data: assets = [] } = useAssets();
  const decimals = (asset: string) => assets.find((a) => a.asset === asset)?.decimals ?? 8;
  const poll = usePoll(30_000, 5000);
  const ads = useQuery({ queryKey: ["p2p-my-ads"], queryFn: p2p.myAds, refetchInterval: poll });
  const trades = useQuery({ queryKey: ["p2p-trades"], queryFn: p2p.trades, refetchInterval: poll });
  const adAction = (ad: AdView, action: "pause" | "resume" | "cancel") =>
    run(`Ad ${ad.ad_id} ${action === "pause" ? "paused" : action === "resume" ? "resumed" : "cancelled"}`, () => p2p.adAction(ad.ad_id, action), ["p2p-my-ads", "p2p-board", "balances"]);
  const active = (trades.data ?? []).filter((t) => !TERMINAL_STATES.has(t.state));
  return (
    <main className="flex flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">My ads and trades</h1>
      <P2PNav />
      <section className="panel" aria-labelledby={`${id}-trades`}>
        <h2 id={`${id}-trades`} className="panel-title">My trades {active.length > 0 && <span className="text-accent">({active.length} in progress)</span>}</h2>
        {trades.error && <p role="alert" className="p-3 text-down">{trades.error.message}</p>}
        <table className="grid-table" aria-label="My trades" data-testid="my-trades">
          <thead><tr>
            <th scope="col">Trade</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Quantity</th>
            <th scope="col">Price</th><th scope="col">Fiat amount</th><th scope="col">Counterparty</th><th scope="col"><span className="sr-only">Open</span></th>
          </tr></thead>
          <tbody>
            {(trades.data ?? []).map((t) => (
              <tr key={t.trade_id} data-trade-id={t.trade_id} data-state={t.state}>
                <td>#{t.trade_id}</td>
                <td>{t.my_role === "buyer" ? "Buying" : t.my_role === "seller" ? "Selling" : t.my_role}</td>
                <td><StateBadge state={t.state} /></td>
                <td className="num">{formatFixed(t.quantity, decimals(t.asset), true)} {t.asset}</td>
                <td className="num">{formatFiat(t.price)}</td>
                <td className="num">{formatFiat(t.fiat_amount)} {t.fiat}</td>
                <td>Trader #{t.buyer_id === userId ? t.seller_id : t.buyer_id}</td>
                <td><Link to={`/p2p/trades/${t.trade_id}`} aria-label={`Open trade ${t.trade_id}`}>Open</Link></td>
              </tr>
            ))}
          </tbody>
        </table>
        {trades.data?.length === 0 && <p className="p-3 text-muted">No trades yet. <Link to="/p2p">Browse the ads</Link>.</p>}
      </section>
      <section className="panel" aria-labelledby={`${id}-ads`}>
        <h2 id={`${id}-ads`} className="panel-title">My ads</h2>
        {ads.error && <p role="alert" className="p-3 text-down">{ads.error.message}</p>}
        <table className="grid-table" aria-label="My ads" data-testid="my-ads">
          <thead><tr>
            <th scope="col">Ad</th><th scope="col">Side</th><th scope="col">State</th><th scope="col">Price</th>
            <th scope="col">Remaining / total</th><th scope="col">Limits</th><th scope="col"><span className="sr-only">Actions</span></th>
          </tr></thead>
          <tbody>
            {(ads.data ?? []).map((ad) => (
              <tr key={ad.ad_id} data-ad-id={ad.ad_id} data-state={ad.state}>
                <td>#{ad.ad_id}</td>
                <td className={ad.side === "sell" ? "text-down" : "text-up"}>{ad.side === "sell" ? "Sell" : "Buy"} {ad.asset} for {ad.fiat}</td>
                <td>{ad.state}</td>
                <td className="num">{ad.price ? formatFiat(ad.price) : `${formatMargin(ad.price_margin_bps ?? 0)} ${ad.price_symbol ?? ""}`}</td>
                <td className="num">{formatFixed(ad.remaining, decimals(ad.asset), true)} / {formatFixed(ad.quantity, decimals(ad.asset), true)}</td>
                <td className="num">{ad.min_quantity} – {ad.max_quantity}</td>
                <td className="flex justify-end gap-1">
                  {ad.state === "open" && <button type="button" className="btn py-0 text-xs" aria-label={`Pause ad ${ad.ad_id}`} onClick={() => adAction(ad, "pause")}>Pause</button>}
                  {ad.state === "paused" && <button type="button" className="btn py-0 text-xs" aria-label={`Resume ad ${ad.ad_id}`} onClick={() => adAction(ad, "resume")}>Resume</button>}
                  {(ad.state === "open" || ad.state === "paused") && <button type="button" className="btn btn-sell py-0 text-xs" aria-label={`Cancel ad ${ad.ad_id}`} onClick={() => adAction(ad, "cancel")}>Cancel</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {ads.data?.length === 0 && <p className="p-3 text-muted">No ads yet. <Link to="/p2p/new">Post one</Link>.</p>}
      </section>
    </main>
  );
}
