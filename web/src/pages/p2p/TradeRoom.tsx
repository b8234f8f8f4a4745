// The trade room: where the trade is (steps), the countdown to its deadline from the
// server's clock, the payment details, exactly the buttons the server allows now (each
// risky one behind an explicit confirmation), the dispute form, feedback after
// completion, and the chat (live through the private stream).
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Navigate, useParams } from "react-router";
import { p2p } from "../../api/p2p";
import { useAssetDecimals, useSession } from "../../hooks";
import { formatFixed } from "../../lib/decimal";
import {
  actionBody, activeDeadline, addMessage, canDispute, DISPUTE_REASONS, mergeMessages, newKey, stepOf, STEPS, TERMINAL_STATES, tradeButtons,
  type ActionButton, type TradeDetail, type TradeMessage,
} from "../../lib/p2p";
import { disputeSchema, feedbackSchema, messageSchema, type DisputeValues, type FeedbackValues, type MessageValues } from "../../lib/p2pForms";
import { usePoll } from "../../stores/p2p";
import { Countdown, errorText, formatFiat, P2PNav, StateBadge } from "./common";

export default function TradeRoom() {
  const session = useSession();
  const { tradeId } = useParams();
  if (!session) return <Navigate to="/signin" replace />;
  const id = Number(tradeId);
  if (!Number.isInteger(id) || id <= 0) return <main className="p-6"><h1 className="text-lg">No such trade</h1></main>;
  return <Room tradeId={id} userId={session.userId} />;
}

/** The trade view with the moment (monotonic) it arrived: the countdown's origin. */
export function useTrade(tradeId: number) {
  const poll = usePoll(30_000);
  return useQuery({
    queryKey: ["p2p-trade", tradeId],
    queryFn: async () => ({ view: await p2p.trade(tradeId), receivedAt: performance.now() }),
    // the dispute's reason and text come from the read model, a moment after the move
    refetchInterval: (query) => {
      const view = query.state.data?.view;
      if (view?.dispute && !view.dispute.reason) return 1500;
      // an admin's proposal is no transition: the stream does not push it
      return view?.state === "disputed" ? Math.min(poll, 8000) : poll;
    },
  });
}

function Room({ tradeId, userId }: { tradeId: number; userId: number }) {
  const trade = useTrade(tradeId);
  const queries = useQueryClient();
  if (trade.error && !trade.data) return <main className="p-6"><h1 className="text-lg">Trade {tradeId}</h1><p role="alert" className="text-down">{trade.error.message}</p></main>;
  if (!trade.data) return <main className="p-6"><h1 className="text-lg">Trade {tradeId}</h1><p className="text-muted">Loading…</p></main>;
  const { view, receivedAt } = trade.data;
  const refresh = () => void queries.invalidateQueries({ queryKey: ["p2p-trade", tradeId] });
  return <RoomView view={view} receivedAt={receivedAt} userId={userId} onChanged={refresh} />;
}

export function RoomView({ view, receivedAt, userId, onChanged }: {
  view: TradeDetail; receivedAt: number; userId: number; onChanged: () => void;
}) {
  const decimals = useAssetDecimals(view.asset);
  const ad = useQuery({ queryKey: ["p2p-ad", view.ad_id], queryFn: () => p2p.ad(view.ad_id), staleTime: 60_000 });
  const feedbackLeft = view.feedback.some((f) => f.from_user_id === userId);
  const dispute = view.dispute;
  const deadline = activeDeadline(view);
  const iAmBuyer = view.my_role === "buyer";
  const counterparty = iAmBuyer ? view.seller_id : view.buyer_id;
  return (
    <main className="flex flex-col gap-3 p-3" data-testid="trade-room" data-state={view.state}>
      <h1 className="flex items-baseline gap-3 text-lg font-semibold">
        Trade #{view.trade_id}: {view.my_role === "admin" ? "dispute review" : iAmBuyer ? `buying ${view.asset}` : `selling ${view.asset}`}
        <StateBadge state={view.state} />
      </h1>
      <P2PNav />
      <ol aria-label="Trade progress" className="flex gap-2 text-xs">
        {STEPS.map((step, i) => {
          const at = stepOf(view.state);
          return (
            <li key={step} aria-current={i === at ? "step" : undefined}
              className={`flex-1 rounded border px-2 py-1 ${i === at ? "border-accent text-accent" : i < at ? "border-up text-up" : "border-line text-muted"}`}>
              {i + 1}. {step}
            </li>
          );
        })}
      </ol>
      <div className="grid grid-cols-[minmax(0,1fr)_minmax(0,1fr)] gap-3">
        <div className="flex flex-col gap-3">
          <section className="panel p-3" aria-label="Trade details">
            <dl className="grid grid-cols-[150px_1fr] gap-y-1 text-sm">
              <dt className="text-muted">Quantity</dt><dd className="num" data-testid="trade-quantity">{formatFixed(view.quantity, decimals, true)} {view.asset}</dd>
              <dt className="text-muted">Price</dt><dd className="num">{formatFiat(view.price)} {view.fiat} per {view.asset}</dd>
              <dt className="text-muted">{view.state === "pending_payment" && iAmBuyer ? "Amount to pay" : "Fiat amount"}</dt><dd className="num text-base font-semibold text-accent" data-testid="fiat-amount">{formatFiat(view.fiat_amount)} {view.fiat}</dd>
              <dt className="text-muted">Buyer / seller</dt><dd>Trader #{view.buyer_id}{view.buyer_id === userId && " (you)"} / Trader #{view.seller_id}{view.seller_id === userId && " (you)"}</dd>
              <dt className="text-muted">Payment method</dt><dd>{view.payment_method.name}</dd>
              {view.payment_method.details && <><dt className="text-muted">Pay to</dt><dd className="whitespace-pre-wrap" data-testid="payment-details">{view.payment_method.details}</dd></>}
              {view.fee && <><dt className="text-muted">Fee on release</dt><dd className="num">{view.fee} {view.asset}</dd></>}
            </dl>
            {ad.data?.terms && <p className="mt-2 text-xs text-muted">Terms of the ad: {ad.data.terms}</p>}
          </section>
          <section className="panel flex flex-col gap-3 p-3" aria-label="What to do now">
            <Guidance view={view} counterparty={counterparty} />
            {deadline && <Countdown key={`${deadline.at}-${receivedAt}`} deadline={deadline.at} serverNow={view.now} receivedAt={receivedAt} label={deadline.label} onZero={onChanged} />}
            <Actions view={view} onChanged={onChanged} />
            {canDispute(view) && <DisputeForm view={view} onChanged={onChanged} />}
            {dispute?.reason && (
              <div className="rounded border border-down p-2 text-xs" data-testid="dispute-info">
                <p className="font-semibold text-down">
                  Dispute opened {dispute.opened_by ? `by trader #${dispute.opened_by}` : "automatically (no release in time)"}: {reasonText(dispute.reason)}
                </p>
                {dispute.text && <p className="whitespace-pre-wrap">{dispute.text}</p>}
                {dispute.resolution_note && <p className="mt-1">Admin's note: {dispute.resolution_note}</p>}
              </div>
            )}
            {view.state === "disputed" && dispute?.proposed_outcome && (
              <p role="status" className="rounded border border-accent p-2 text-xs" data-testid="pending-resolution">
                Admin #{dispute.proposed_by} proposed to {dispute.proposed_outcome === "release" ? "release the asset to the buyer" : "refund the seller"}:
                a second admin must approve before any money moves.
              </p>
            )}
            {view.state === "completed" && view.my_role !== "admin" && <Feedback view={view} left={feedbackLeft} onChanged={onChanged} />}
          </section>
        </div>
        <Chat tradeId={view.trade_id} userId={userId} closed={TERMINAL_STATES.has(view.state) && view.my_role !== "admin"} />
      </div>
    </main>
  );
}

export function reasonText(reason: string): string {
  return DISPUTE_REASONS.find(([r]) => r === reason)?.[1] ?? reason;
}

function Guidance({ view, counterparty }: { view: TradeDetail; counterparty: number }) {
  const amount = `${formatFiat(view.fiat_amount)} ${view.fiat}`;
  const text = (() => {
    switch (view.state) {
      case "pending_payment":
        return view.my_role === "buyer"
          ? `Send exactly ${amount} to the seller with the details shown, then press "I have paid". The seller's asset is held in escrow.`
          : `The ${view.asset} is in escrow. Wait for the buyer to pay ${amount}; do not release anything yet.`;
      case "paid":
        return view.my_role === "seller"
          ? `The buyer says they sent ${amount}. Check your account: release only when the money is there.`
          : `Waiting for trader #${counterparty} to confirm your payment and release. If they do not, open a dispute once allowed.`;
      case "disputed": return "An admin reviews the trade. Explain in the chat and add your evidence; the escrow stays frozen.";
      case "completed": return `Done: the ${view.asset} was released to the buyer.`;
      case "cancelled": return "The trade was cancelled; the escrow went back to the seller's side.";
      case "expired": return "The payment window passed without payment; the escrow went back to the seller's side.";
      case "resolved_release": return "An admin released the escrow to the buyer.";
      case "resolved_refund": return "An admin refunded the escrow to the seller.";
    }
  })();
  return <p className="text-sm" data-testid="guidance">{text}</p>;
}

function Actions({ view, onChanged }: { view: TradeDetail; onChanged: () => void }) {
  const buttons = tradeButtons(view);
  if (!buttons.length) return null;
  return (
    <div className="flex flex-col gap-2" data-testid="trade-actions">
      {buttons.map((b) => <ActionRow key={`${b.action}-${view.state}`} view={view} button={b} onChanged={onChanged} />)}
    </div>
  );
}

function ActionRow({ view, button, onChanged }: { view: TradeDetail; button: ActionButton; onChanged: () => void }) {
  const id = useId();
  const [confirmed, setConfirmed] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // one key per action in this state: a double click or a retry acts once
  const key = useMemo(() => newKey(button.action), [button.action]);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const extra = button.action === "cancel" && view.state === "paid" ? { confirm: true } : {};
      if (button.action === "dispute" || button.action === "resolve") return; // their own forms
      await p2p.act(view.trade_id, button.action, actionBody(view, key, extra));
    } catch (e) {
      setError(errorText(e, "The action failed."));
    } finally {
      setBusy(false);
      onChanged();
    }
  };
  const tone = button.tone === "buy" ? "btn-buy" : button.tone === "sell" ? "btn-sell" : "";
  return (
    <div className={button.confirm ? "rounded border border-line p-2" : ""}>
      {button.confirm && (
        <>
          <p id={`${id}-warn`} role="note" className={`mb-1 text-xs ${button.action === "cancel" ? "text-down" : "text-accent"}`}>{button.confirm}</p>
          <label className="mb-2 flex items-center gap-2 text-xs">
            <input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} aria-describedby={`${id}-warn`} />
            {button.action === "release" ? "I checked my account: the money arrived" : button.action === "paid" ? "I sent the exact amount" : "I did not pay, or I was refunded"}
          </label>
        </>
      )}
      <button type="button" className={`btn w-full ${tone}`} disabled={busy || (!!button.confirm && !confirmed)} onClick={run}>{button.label}</button>
      {error && <p role="alert" className="field-error">{error}</p>}
    </div>
  );
}

function DisputeForm({ view, onChanged }: { view: TradeDetail; onChanged: () => void }) {
  const id = useId();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const key = useMemo(() => newKey("dispute"), []);
  const { register, handleSubmit, formState: { errors, isSubmitting } } = useForm<DisputeValues>({
    resolver: zodResolver(disputeSchema),
    defaultValues: { reason: view.my_role === "buyer" ? "payment_not_received" : "payment_not_confirmed", text: "" },
  });
  const submit = async (values: DisputeValues) => {
    setError(null);
    try {
      await p2p.dispute(view.trade_id, actionBody(view, key, { reason: values.reason, text: values.text }));
      onChanged();
    } catch (err) {
      setError(errorText(err, "The dispute could not be opened."));
      onChanged();
    }
  };
  if (!open) return <button type="button" className="btn" onClick={() => setOpen(true)}>Open a dispute</button>;
  return (
    <form className="flex flex-col gap-2 rounded border border-down p-2" onSubmit={handleSubmit(submit)} aria-label="Open a dispute" noValidate>
      <p className="text-xs text-muted">An admin will review the chat and your evidence; the escrow stays frozen until then.</p>
      <div>
        <label htmlFor={`${id}-reason`} className="text-xs text-muted">Reason</label>
        <select id={`${id}-reason`} className="input" aria-invalid={errors.reason ? true : undefined} {...register("reason")}>
          {DISPUTE_REASONS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
        </select>
        {errors.reason && <p className="field-error">{errors.reason.message}</p>}
      </div>
      <div>
        <label htmlFor={`${id}-text`} className="text-xs text-muted">What happened</label>
        <textarea id={`${id}-text`} className="input h-20" maxLength={1000} aria-invalid={errors.text ? true : undefined}
          aria-describedby={errors.text ? `${id}-text-error` : undefined} {...register("text")} />
        {errors.text && <p id={`${id}-text-error`} role="alert" className="field-error">{errors.text.message}</p>}
      </div>
      {error && <p role="alert" className="field-error">{error}</p>}
      <div className="flex gap-2">
        <button type="submit" className="btn btn-sell" disabled={isSubmitting}>Submit the dispute</button>
        <button type="button" className="btn" onClick={() => setOpen(false)}>Close the form</button>
      </div>
    </form>
  );
}

/** Feedback after completion, once; the thanks stay when the refreshed trade shows it. */
function Feedback({ view, left, onChanged }: { view: TradeDetail; left: boolean; onChanged: () => void }) {
  const id = useId();
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { register, handleSubmit, formState: { errors, isSubmitting } } = useForm<FeedbackValues>({
    resolver: zodResolver(feedbackSchema), defaultValues: { comment: "" },
  });
  const send = (positive: boolean) => handleSubmit(async (values) => {
    setError(null);
    try {
      await p2p.feedback(view.trade_id, positive, values.comment);
      setDone("Thank you: your feedback was recorded.");
      onChanged();
    } catch (e) {
      setError(errorText(e, "The feedback could not be saved."));
    }
  });
  if (done || left) return <p role="status" className="text-xs text-up">{done ?? "Thank you: your feedback was recorded."}</p>;
  return (
    <form className="flex flex-col gap-2 rounded border border-line p-2" aria-labelledby={`${id}-t`} noValidate onSubmit={(e) => e.preventDefault()}>
      <p id={`${id}-t`} className="text-sm font-semibold">How was trading with trader #{view.my_role === "buyer" ? view.seller_id : view.buyer_id}?</p>
      <label htmlFor={`${id}-c`} className="text-xs text-muted">Comment (optional)</label>
      <input id={`${id}-c`} className="input" maxLength={500} aria-invalid={errors.comment ? true : undefined} {...register("comment")} />
      {errors.comment && <p role="alert" className="field-error">{errors.comment.message}</p>}
      <div className="flex gap-2">
        <button type="button" className="btn btn-buy" disabled={isSubmitting} onClick={send(true)}>Positive</button>
        <button type="button" className="btn btn-sell" disabled={isSubmitting} onClick={send(false)}>Negative</button>
      </div>
      {error && <p role="alert" className="field-error">{error}</p>}
    </form>
  );
}

export function Chat({ tradeId, userId, closed }: { tradeId: number; userId: number; closed: boolean }) {
  const id = useId();
  const queries = useQueryClient();
  const poll = usePoll(30_000);
  const messages = useQuery({
    queryKey: ["p2p-messages", tradeId],
    // the read model may trail a line just sent or pushed: keep those until it has them
    queryFn: async () => mergeMessages(await p2p.messages(tradeId), queries.getQueryData<TradeMessage[]>(["p2p-messages", tradeId]) ?? []),
    refetchInterval: poll,
  });
  const [error, setError] = useState<string | null>(null);
  const { register, handleSubmit, reset, formState: { errors } } = useForm<MessageValues>({
    resolver: zodResolver(messageSchema), defaultValues: { text: "" },
  });
  const list = useRef<HTMLOListElement>(null);
  const count = messages.data?.length ?? 0;
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count]);
  const send = async ({ text: body }: MessageValues) => {
    setError(null);
    try {
      const posted = await p2p.postMessage(tradeId, body);
      reset({ text: "" });
      queries.setQueryData<TradeMessage[]>(["p2p-messages", tradeId], (old) => addMessage(old ?? [], posted));
      void queries.invalidateQueries({ queryKey: ["p2p-messages", tradeId] });
    } catch (err) {
      setError(errorText(err, "The message was not sent."));
    }
  };
  const who = (m: TradeMessage) => m.author === "system" ? "System" : m.author === "admin" ? (m.user_id === userId ? "You (admin)" : "Admin")
    : m.user_id === userId ? "You" : m.author === "buyer" ? "Buyer" : "Seller";
  return (
    <section className="panel flex min-h-96 flex-col" aria-labelledby={`${id}-t`}>
      <h2 id={`${id}-t`} className="panel-title">Chat</h2>
      <ol ref={list} className="flex h-96 flex-col gap-1 overflow-auto p-3 text-sm" aria-label="Messages" aria-live="polite" data-testid="chat" tabIndex={0}>
        {(messages.data ?? []).map((m) => (
          <li key={m.seq} data-author={m.author} className={`max-w-[85%] rounded px-2 py-1 ${m.author === "system" ? "self-center text-xs text-muted" : m.author === "admin" ? "self-start border border-accent" : m.user_id === userId ? "self-end bg-[#1e2a3a]" : "self-start bg-[#1e242d]"}`}>
            <span className="mr-1 text-xs font-semibold text-muted">{who(m)}:</span>
            <span className="whitespace-pre-wrap">{m.text}</span>
          </li>
        ))}
        {count === 0 && <li className="text-xs text-muted">No messages yet.</li>}
      </ol>
      {messages.error && <p role="alert" className="px-3 text-down">{messages.error.message}</p>}
      {closed ? <p className="border-t border-line p-3 text-xs text-muted">The trade is closed. <Link to="/p2p/mine">Back to my trades</Link></p> : (
        <form className="flex gap-2 border-t border-line p-2" onSubmit={handleSubmit(send)} aria-label="Send a message" noValidate>
          <label htmlFor={`${id}-m`} className="sr-only">Write a message</label>
          <input id={`${id}-m`} className="input" maxLength={1000} placeholder="Write to the other side…"
            aria-invalid={errors.text ? true : undefined} {...register("text")} />
          <button type="submit" className="btn">Send</button>
        </form>
      )}
      {!closed && errors.text && <p role="alert" className="field-error px-3 pb-2">{errors.text.message}</p>}
      {error && <p role="alert" className="field-error px-3 pb-2">{error}</p>}
    </section>
  );
}
