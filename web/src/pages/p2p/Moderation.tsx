// Ad moderation (administrators): every ad, or those in one state, newest first; an
// open or paused ad can be paused or removed with a reason its maker is told. A removed
// ad's escrow not held by a live trade goes back to the maker; a paused one keeps it, and
// only an administrator resumes it. Trades already open go on.
import { useId, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Navigate } from "react-router";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { p2p } from "../../api/p2p";
import { useSession } from "../../hooks";
import { formatMargin, type AdView } from "../../lib/p2p";
import { moderationSchema, type ModerationValues } from "../../lib/p2pForms";
import { errorText, formatFiat, P2PNav } from "./common";
import { useToasts } from "../../stores/toasts";

type Status = "open" | "paused" | "closed" | "cancelled";
type Action = "remove" | "pause";
type Acting = { id: number; action: Action };
const STATUSES: Status[] = ["open", "paused", "closed", "cancelled"];

export default function Moderation() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  if (session.role !== "admin") return <main className="p-6"><h1 className="text-lg">Administrators only</h1><p>Your account is not an administrator.</p></main>;
  return <AdList />;
}

function AdList() {
  const id = useId();
  const [status, setStatus] = useState<Status | "">("open");
  const [acting, setActing] = useState<Acting | null>(null);
  const ads = useQuery({ queryKey: ["p2p-admin-ads", status], queryFn: () => p2p.admin.ads(status || undefined), refetchInterval: 15_000 });
  const list = ads.data ?? [];
  return (
    <main className="flex flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">P2P ad moderation</h1>
      <P2PNav />
      <section className="panel" aria-labelledby={`${id}-t`}>
        <div className="flex items-center gap-3 border-b border-line px-3 py-2">
          <h2 id={`${id}-t`} className="text-xs font-semibold">Ads ({list.length})</h2>
          <label htmlFor={`${id}-s`} className="ml-auto text-xs text-muted">State</label>
          <select id={`${id}-s`} className="input w-40" value={status} onChange={(e) => setStatus(e.target.value as Status | "")}>
            <option value="">All</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s[0]!.toUpperCase() + s.slice(1)}</option>)}
          </select>
        </div>
        {ads.error && <p role="alert" className="p-3 text-down">{ads.error.message}</p>}
        <div className="overflow-x-auto">
          <table className="grid-table" aria-label="Ads to moderate" data-testid="moderation-ads">
            <thead><tr>
              <th scope="col">Ad</th><th scope="col">Maker</th><th scope="col">Side</th><th scope="col">Price</th>
              <th scope="col">Remaining / total</th><th scope="col">Terms</th><th scope="col">State</th><th scope="col"><span className="sr-only">Actions</span></th>
            </tr></thead>
            <tbody>
              {list.map((ad) => (
                <AdRow key={ad.ad_id} ad={ad} action={acting?.id === ad.ad_id ? acting.action : null}
                  onAction={(action) => setActing(acting?.id === ad.ad_id && acting.action === action ? null : { id: ad.ad_id, action })}
                  onDone={() => setActing(null)} />
              ))}
            </tbody>
          </table>
        </div>
        {ads.isSuccess && list.length === 0 && <p className="p-3 text-muted">No ads{status ? ` in the ${status} state` : ""}.</p>}
      </section>
    </main>
  );
}

function AdRow({ ad, action, onAction, onDone }: { ad: AdView; action: Action | null; onAction: (action: Action) => void; onDone: () => void }) {
  const live = ad.state === "open" || ad.state === "paused";
  const queries = useQueryClient();
  const push = useToasts((s) => s.push);
  const [resuming, setResuming] = useState(false);
  const resume = async () => {
    setResuming(true);
    try {
      await p2p.admin.resumeAd(ad.ad_id);
      push("success", `Ad #${ad.ad_id} resumed.`);
      await queries.invalidateQueries({ queryKey: ["p2p-admin-ads"] });
      await queries.invalidateQueries({ queryKey: ["p2p-board"] });
    } catch (e) {
      push("error", errorText(e, "The ad could not be resumed."));
    } finally {
      setResuming(false);
    }
  };
  return (
    <>
      <tr data-ad-id={ad.ad_id} data-state={ad.state}>
        <td>#{ad.ad_id}</td>
        <td>#{ad.maker_id}</td>
        <td className={ad.side === "sell" ? "text-down" : "text-up"}>{ad.side === "sell" ? "Sells" : "Buys"} {ad.asset}</td>
        <td className="num">{ad.price ? `${formatFiat(ad.price)} ${ad.fiat}` : `${formatMargin(ad.price_margin_bps ?? 0)} ${ad.price_symbol ?? ""}`}</td>
        <td className="num">{ad.remaining} / {ad.quantity}</td>
        <td className="max-w-64 truncate" title={ad.terms}>{ad.terms || "—"}</td>
        <td>{ad.state}</td>
        <td>{live && (
          <span className="flex gap-1">
            {ad.paused_by_admin
              ? <button type="button" className="btn py-0 text-xs" aria-label={`Resume ad ${ad.ad_id}`} disabled={resuming} onClick={resume}>Resume</button>
              : <button type="button" className="btn py-0 text-xs" aria-expanded={action === "pause"} aria-label={`Pause ad ${ad.ad_id}`} onClick={() => onAction("pause")}>Pause</button>}
            <button type="button" className="btn py-0 text-xs" aria-expanded={action === "remove"} aria-label={`Remove ad ${ad.ad_id}`} onClick={() => onAction("remove")}>Remove</button>
          </span>
        )}</td>
      </tr>
      {action && live && <tr><td colSpan={8} className="whitespace-normal"><RemoveForm ad={ad} action={action} onDone={onDone} /></td></tr>}
    </>
  );
}

// The reason form of a removal or a pause (the maker is told the reason of either).
function RemoveForm({ ad, action, onDone }: { ad: AdView; action: Action; onDone: () => void }) {
  const verb = action === "pause" ? "Pause" : "Remove";
  const id = useId();
  const queries = useQueryClient();
  const push = useToasts((s) => s.push);
  const [error, setError] = useState<string | null>(null);
  const { register, handleSubmit, formState: { errors, isSubmitting } } = useForm<ModerationValues>({
    resolver: zodResolver(moderationSchema), defaultValues: { reason: "" },
  });
  const submit = async ({ reason }: ModerationValues) => {
    setError(null);
    try {
      if (action === "pause") await p2p.admin.pauseAd(ad.ad_id, reason);
      else await p2p.admin.cancelAd(ad.ad_id, reason);
      push("success", `Ad #${ad.ad_id} ${action === "pause" ? "paused" : "removed"}.`);
      await queries.invalidateQueries({ queryKey: ["p2p-admin-ads"] });
      await queries.invalidateQueries({ queryKey: ["p2p-board"] });
      onDone();
    } catch (e) {
      setError(errorText(e, `The ad could not be ${action === "pause" ? "paused" : "removed"}.`));
    }
  };
  return (
    // no wider than the screen (the table's row can be wider: it scrolls), the reason's
    // box at most 36rem, the button beside it or, where there is no room, under it
    <form className="flex max-w-[calc(100vw-3rem)] flex-wrap items-start gap-2 p-2" onSubmit={handleSubmit(submit)} aria-label={`${verb} ad ${ad.ad_id}`} noValidate>
      <div className="w-[36rem] max-w-full">
        <label htmlFor={`${id}-r`} className="block text-xs text-muted">Reason (the maker is told it)</label>
        <input id={`${id}-r`} className="input" maxLength={200} aria-invalid={errors.reason ? true : undefined}
          aria-describedby={errors.reason ? `${id}-r-error` : undefined} {...register("reason")} />
        {errors.reason && <p id={`${id}-r-error`} role="alert" className="field-error">{errors.reason.message}</p>}
        {error && <p role="alert" className="field-error">{error}</p>}
      </div>
      <button type="submit" className="btn btn-sell mt-4" disabled={isSubmitting}>{verb} the ad</button>
    </form>
  );
}
