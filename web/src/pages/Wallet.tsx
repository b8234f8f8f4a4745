import { useId, useMemo, useRef, useState } from "react";
import { useForm, type Resolver } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { Navigate } from "react-router";
import { api, ApiError, type LedgerEntry } from "../api/client";
import { useAssets, useSession } from "../hooks";
import { formatFixed } from "../lib/decimal";
import { moveSchema, type MoveKind, type MoveValues } from "../lib/walletForm";
import { formatDateTime } from "../lib/time";
import { useToasts } from "../stores/toasts";
import type { Balance } from "../lib/market";

export default function Wallet() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  return <WalletPage />;
}

function WalletPage() {
  const balances = useQuery({ queryKey: ["balances"], queryFn: api.balances, refetchInterval: 5000 });
  const { data: assets = [] } = useAssets();
  const decimals = new Map(assets.map((a) => [a.asset, a.decimals]));
  return (
    <main className="grid grid-cols-[minmax(0,1.2fr)_minmax(0,1fr)] gap-3 p-3">
      <h1 className="sr-only">Wallet</h1>
      <section className="panel" aria-labelledby="balances-title">
        <h2 id="balances-title" className="panel-title">Balances and deposit addresses</h2>
        {balances.error && <p role="alert" className="p-3 text-down">{balances.error.message}</p>}
        <table className="grid-table num" aria-label="Wallet balances" data-testid="wallet-balances">
          <thead><tr><th scope="col">Asset</th><th scope="col">Available</th><th scope="col">Held</th><th scope="col">Total</th><th scope="col">Deposit address</th></tr></thead>
          <tbody>
            {(balances.data ?? []).map((b) => (
              <tr key={b.asset} data-asset={b.asset}>
                <td>{b.asset}</td>
                <td>{formatFixed(b.available, decimals.get(b.asset) ?? 8, true)}</td>
                <td className="text-muted">{formatFixed(b.held, decimals.get(b.asset) ?? 8, true)}</td>
                <td>{formatFixed(b.total, decimals.get(b.asset) ?? 8, true)}</td>
                <td><AddressCell balance={b} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <div className="flex flex-col gap-3">
        <MoveForm kind="withdraw" assets={assets.map((a) => a.asset)} decimals={decimals} balances={balances.data ?? []} />
        <MoveForm kind="transfer" assets={assets.map((a) => a.asset)} decimals={decimals} balances={balances.data ?? []} />
      </div>
      <section className="panel col-span-2" aria-labelledby="ledger-title">
        <h2 id="ledger-title" className="panel-title">Ledger</h2>
        <Ledger decimals={decimals} />
      </section>
    </main>
  );
}

function AddressCell({ balance }: { balance: Balance }) {
  const queries = useQueryClient();
  const push = useToasts((s) => s.push);
  if (balance.address) return <code className="text-xs" data-testid={`address-${balance.asset}`}>{balance.address}</code>;
  return (
    <button type="button" className="btn py-0 text-xs" onClick={async () => {
      try {
        await api.address(balance.asset);
        await queries.invalidateQueries({ queryKey: ["balances"] });
      } catch (e) {
        push("error", e instanceof ApiError ? e.message : "No address could be created.");
      }
    }}>Create {balance.asset} address</button>
  );
}

function MoveForm({ kind, assets, decimals, balances }: {
  kind: MoveKind; assets: string[]; decimals: Map<string, number>; balances: Balance[];
}) {
  const id = useId();
  const [failure, setFailure] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const queries = useQueryClient();
  const latest = useRef({ decimals, balances });
  latest.current = { decimals, balances };
  const resolver = useMemo<Resolver<MoveValues>>(() => zodResolver(moveSchema(kind, {
    decimals: (asset) => latest.current.decimals.get(asset) ?? 8,
    available: (asset) => latest.current.balances.find((b) => b.asset === asset)?.available ?? "0",
  })) as Resolver<MoveValues>, [kind]);
  const { register, handleSubmit, watch, resetField, formState: { errors, isSubmitting } } =
    useForm<MoveValues>({ defaultValues: { asset: "USD", amount: "", target: "" }, resolver });
  const asset = watch("asset");
  const availableNow = balances.find((b) => b.asset === asset)?.available ?? "0";
  const submit = handleSubmit(async ({ asset: code, amount, target }) => {
    setDone(null);
    setFailure(null);
    try {
      if (kind === "withdraw") {
        const w = await api.withdraw(code, amount, target);
        setDone(`Withdrawal ${w.withdrawal_id} of ${w.amount} ${w.asset} is pending approval.`);
      } else {
        const t = await api.transfer(code, amount, target);
        setDone(`Transfer ${t.transfer_id}: ${t.amount} ${t.asset} sent to ${t.to_address}.`);
      }
      resetField("amount");
      await queries.invalidateQueries({ queryKey: ["balances"] });
      await queries.invalidateQueries({ queryKey: ["ledger"] });
    } catch (err) {
      setFailure(err instanceof ApiError ? err.message : "The request failed.");
    }
  });
  const error = errors.amount?.message ?? errors.target?.message ?? errors.asset?.message ?? failure;
  const title = kind === "withdraw" ? "Withdraw" : "Transfer to a wallet address";
  return (
    <form className="panel flex flex-col gap-2 p-3" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-t`} noValidate>
      <h2 id={`${id}-t`} className="text-sm font-semibold">{title}</h2>
      <div className="grid grid-cols-[100px_1fr] gap-2">
        <div>
          <label htmlFor={`${id}-asset`} className="text-xs text-muted">Asset</label>
          <select id={`${id}-asset`} className="input" {...register("asset")}>
            {assets.map((a) => <option key={a}>{a}</option>)}
          </select>
        </div>
        <div>
          <label htmlFor={`${id}-amount`} className="text-xs text-muted">Amount ({availableNow} available)</label>
          <input id={`${id}-amount`} className="input num" inputMode="decimal" autoComplete="off"
            aria-invalid={errors.amount ? true : undefined} {...register("amount")} />
        </div>
      </div>
      <div>
        <label htmlFor={`${id}-target`} className="text-xs text-muted">{kind === "withdraw" ? "Destination (external address)" : "Recipient wallet address"}</label>
        <input id={`${id}-target`} className="input" aria-invalid={errors.target ? true : undefined} {...register("target")} />
      </div>
      {error && <p role="alert" className="field-error">{error}</p>}
      {done && <p role="status" className="text-xs text-up">{done}</p>}
      <button type="submit" className="btn" disabled={isSubmitting}>{kind === "withdraw" ? "Request withdrawal" : "Send transfer"}</button>
    </form>
  );
}

function Ledger({ decimals }: { decimals: Map<string, number> }) {
  const { data = [], error } = useQuery({ queryKey: ["ledger"], queryFn: () => api.ledger(undefined, 1000), refetchInterval: 5000 });
  const parent = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: data.length, getScrollElement: () => parent.current, estimateSize: () => 24, overscan: 10 });
  if (error) return <p role="alert" className="p-3 text-down">{error.message}</p>;
  if (!data.length) return <p className="p-3 text-muted">No ledger entries yet.</p>;
  const cols = "grid grid-cols-[170px_70px_1fr_1fr_1fr_1fr_1.4fr] gap-2 px-3";
  const fmt = (e: LedgerEntry, v: string) => formatFixed(v, decimals.get(e.asset) ?? 8, true);
  return (
    <div role="table" aria-label="Ledger entries" aria-rowcount={data.length + 1} className="num text-xs" data-testid="ledger">
      <div role="rowgroup"><div role="row" className={`${cols} py-1 text-muted`}>
        {["Time", "Asset", "Amount", "Available change", "Held change", "Reason", "Reference"].map((h) => <span role="columnheader" key={h}>{h}</span>)}
      </div></div>
      <div ref={parent} className="h-80 overflow-auto" tabIndex={0} aria-label="Ledger entries, scrollable" role="rowgroup">
        <div style={{ height: rows.getTotalSize(), position: "relative" }}>
          {rows.getVirtualItems().map((v) => {
            const e = data[v.index]!;
            return (
              <div role="row" aria-rowindex={v.index + 2} key={`${e.seq}-${e.index}`} className={`${cols} absolute inset-x-0 items-center`}
                style={{ height: v.size, transform: `translateY(${v.start}px)` }}>
                <span role="cell">{formatDateTime(e.timestamp_ns)}</span><span role="cell">{e.asset}</span>
                <span role="cell">{fmt(e, e.amount)}</span><span role="cell">{fmt(e, e.available_change)}</span>
                <span role="cell">{fmt(e, e.held_change)}</span><span role="cell">{e.reason}</span>
                <span role="cell" className="truncate">{e.reference}</span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
