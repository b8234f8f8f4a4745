// The admin dispute queue: the disputed trades, oldest first; one opens with its
// timeline, its chat (an admin may write in it) and the resolution form (release to the
// buyer or refund the seller, with a note). Above the configured amount a second admin
// must approve: the page shows the pending proposal. The queue follows the private
// stream's p2p_dispute pushes (no polling while the stream is up).
import { useId, useMemo, useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { resolveSchema, type ResolveValues } from "../../lib/p2pForms";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Navigate } from "react-router";
import { p2p } from "../../api/p2p";
import { useSession } from "../../hooks";
import { canResolve, newKey, STATE_LABEL, type TradeDetail } from "../../lib/p2p";
import { useP2PLive } from "../../stores/p2p";
import { Chat, reasonText } from "./TradeRoom";
import { errorText, formatFiat, P2PNav, StateBadge } from "./common";

export default function Disputes() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  if (session.role !== "admin") return <main className="p-6"><h1 className="text-lg">Administrators only</h1><p>Your account is not an administrator.</p></main>;
  return <Queue adminId={session.userId} />;
}

function Queue({ adminId }: { adminId: number }) {
  const id = useId();
  // the stream pushes every change of the queue (p2p_dispute): polling only while it is down
  const live = useP2PLive((s) => s.live);
  const disputes = useQuery({ queryKey: ["p2p-disputes"], queryFn: p2p.admin.disputes, refetchInterval: live ? false : 5000 });
  const [selected, setSelected] = useState<number | null>(null);
  const list = disputes.data ?? [];
  return (
    <main className="flex flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">P2P dispute queue</h1>
      <P2PNav />
      <section className="panel" aria-labelledby={`${id}-q`}>
        <h2 id={`${id}-q`} className="panel-title">Open disputes ({list.length})</h2>
        {disputes.error && <p role="alert" className="p-3 text-down">{disputes.error.message}</p>}
        <table className="grid-table" aria-label="Disputes" data-testid="disputes">
          <thead><tr>
            <th scope="col">Trade</th><th scope="col">Reason</th><th scope="col">Quantity</th><th scope="col">Fiat amount</th>
            <th scope="col">Buyer / seller</th><th scope="col">Approval</th><th scope="col"><span className="sr-only">Review</span></th>
          </tr></thead>
          <tbody>
            {list.map((d) => (
              <tr key={d.trade_id} data-trade-id={d.trade_id} aria-selected={selected === d.trade_id} className={selected === d.trade_id ? "bg-[#1e242d]" : ""}>
                <td>#{d.trade_id}</td>
                <td>{d.dispute?.reason ? reasonText(d.dispute.reason) : "—"}</td>
                <td className="num">{d.quantity} {d.asset}</td>
                <td className="num">{formatFiat(d.fiat_amount)} {d.fiat}</td>
                <td>#{d.buyer_id} / #{d.seller_id}</td>
                <td className="text-xs">{d.dispute?.proposed_outcome ? `${d.dispute.proposed_outcome} proposed by admin #${d.dispute.proposed_by}: awaiting a second admin` : "—"}</td>
                <td><button type="button" className="btn py-0 text-xs" aria-label={`Review trade ${d.trade_id}`} onClick={() => setSelected(d.trade_id)}>Review</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        {disputes.isSuccess && list.length === 0 && <p className="p-3 text-muted">No open disputes.</p>}
      </section>
      {selected !== null && <Review key={selected} tradeId={selected} adminId={adminId} queued={list.find((d) => d.trade_id === selected) ?? null} />}
    </main>
  );
}

function Review({ tradeId, adminId, queued }: { tradeId: number; adminId: number; queued: TradeDetail | null }) {
  const id = useId();
  const queries = useQueryClient();
  const trade = useQuery({ queryKey: ["p2p-trade", tradeId], queryFn: async () => ({ view: await p2p.trade(tradeId), receivedAt: performance.now() }) });
  const changed = () => {
    for (const key of [["p2p-trade", tradeId], ["p2p-disputes"], ["p2p-messages", tradeId]]) void queries.invalidateQueries({ queryKey: key });
  };
  const [outcome, setOutcome] = useState<string | null>(null);
  const view = trade.data?.view ?? queued;
  if (!view) return <p className="p-3 text-muted">{trade.error ? trade.error.message : "Loading…"}</p>;
  const dispute = view.dispute;
  return (
    <section className="panel flex flex-col gap-3 p-3" aria-labelledby={`${id}-t`} data-testid="dispute-review">
      <h2 id={`${id}-t`} className="text-base font-semibold">Trade #{tradeId} <StateBadge state={view.state} /></h2>
      <div className="grid grid-cols-[minmax(0,1fr)_minmax(0,1fr)] gap-3">
        <div className="flex flex-col gap-3">
          <dl className="grid grid-cols-[140px_1fr] gap-y-1 text-sm">
            <dt className="text-muted">Quantity</dt><dd className="num">{view.quantity} {view.asset}</dd>
            <dt className="text-muted">Fiat amount</dt><dd className="num">{formatFiat(view.fiat_amount)} {view.fiat} at {view.price}</dd>
            <dt className="text-muted">Buyer / seller</dt><dd>#{view.buyer_id} / #{view.seller_id}</dd>
            <dt className="text-muted">Payment method</dt><dd>{view.payment_method.name}</dd>
          </dl>
          {dispute?.reason && (
            <div className="rounded border border-down p-2 text-xs" data-testid="dispute-info">
              <p className="font-semibold">{dispute.opened_by ? `Opened by trader #${dispute.opened_by} (${dispute.opened_by === view.buyer_id ? "buyer" : "seller"})` : "Escalated automatically"}: {reasonText(dispute.reason)}</p>
              {dispute.text && <p className="whitespace-pre-wrap">{dispute.text}</p>}
            </div>
          )}
          <div>
            <h3 className="mb-1 text-sm font-semibold">Timeline</h3>
            <ol className="flex flex-col gap-0.5 text-xs" aria-label="Timeline" data-testid="timeline">
              {view.timeline.map((t) => (
                <li key={t.seq} className="num">
                  <span className="text-muted">{new Date(t.at).toLocaleString()}</span>{" "}
                  {t.from_state ? `${STATE_LABEL[t.from_state]} → ` : "Opened: "}{STATE_LABEL[t.to_state]}
                  {" "}({t.actor === "system" ? "deadline" : `${t.actor}${t.actor_id ? ` #${t.actor_id}` : ""}`}){t.reason ? `: ${t.reason}` : ""}
                </li>
              ))}
            </ol>
          </div>
          {view.state === "disputed" && dispute?.proposed_outcome && (
            <p role="status" className="rounded border border-accent p-2 text-xs" data-testid="pending-resolution">
              Admin #{dispute.proposed_by} proposed: {dispute.proposed_outcome === "release" ? "release to the buyer" : "refund the seller"}{dispute.resolution_note ? ` (${dispute.resolution_note})` : ""}.
              {dispute.proposed_by === adminId ? " A second, different admin must approve it." : " Choose the same outcome to approve it."}
            </p>
          )}
          {outcome && <p role="status" className="text-xs text-up" data-testid="resolve-outcome">{outcome}</p>}
          {canResolve(view) && <Resolve view={view} onChanged={changed} onDone={setOutcome} />}
        </div>
        <Chat tradeId={tradeId} userId={adminId} closed={view.state !== "disputed"} />
      </div>
    </section>
  );
}

function Resolve({ view, onChanged, onDone }: { view: TradeDetail; onChanged: () => void; onDone: (text: string) => void }) {
  const id = useId();
  const [error, setError] = useState<string | null>(null);
  const { register, handleSubmit, watch, formState: { errors, isSubmitting } } = useForm<ResolveValues>({
    resolver: zodResolver(resolveSchema), defaultValues: { note: "" },
  });
  const outcome = watch("outcome");
  // one key per decision: a repeated click of the same one is the same request
  const key = useMemo(() => newKey(`resolve-${outcome ?? ""}`), [outcome]);
  const submit = async (values: ResolveValues) => {
    setError(null);
    try {
      const after = await p2p.admin.resolve(view.trade_id, values.outcome, values.note, key);
      onDone(after.state === "disputed" ? "Recorded: a second admin must approve this resolution."
        : after.state === "resolved_release" ? "Resolved: the escrow was released to the buyer." : after.state === "resolved_refund" ? "Resolved: the escrow was refunded to the seller." : STATE_LABEL[after.state]);
    } catch (err) {
      setError(errorText(err, "The resolution failed."));
    } finally {
      onChanged();
    }
  };
  return (
    <form className="flex flex-col gap-2 rounded border border-line p-2" onSubmit={handleSubmit(submit)} aria-label="Resolve the dispute" noValidate>
      <fieldset className="flex gap-4">
        <legend className="mb-1 text-sm font-semibold">Decision</legend>
        <label className="flex items-center gap-1"><input type="radio" value="release" {...register("outcome")} />Release to the buyer</label>
        <label className="flex items-center gap-1"><input type="radio" value="refund" {...register("outcome")} />Refund the seller</label>
      </fieldset>
      {errors.outcome && <p role="alert" className="field-error">{errors.outcome.message}</p>}
      <div>
        <label htmlFor={`${id}-n`} className="text-xs text-muted">Note (shown to both sides)</label>
        <textarea id={`${id}-n`} className="input h-16" maxLength={1000} aria-invalid={errors.note ? true : undefined} {...register("note")} />
        {errors.note && <p role="alert" className="field-error">{errors.note.message}</p>}
      </div>
      {error && <p role="alert" className="field-error">{error}</p>}
      <button type="submit" className="btn btn-sell" disabled={isSubmitting}>Resolve</button>
    </form>
  );
}
