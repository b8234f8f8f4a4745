import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { Navigate } from "react-router";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, ApiError, type AdminFilter, type AdminHealth, type AdminOrderStatus } from "../api/client";
import { useAssets, useSession, useSymbols } from "../hooks";
import { healthPoint, type HealthPoint, type HealthSample } from "../lib/health";
import { formatDateTime } from "../lib/time";
import { useToasts } from "../stores/toasts";

type Tab = "health" | "users" | "funds" | "withdrawals" | "markets" | "orders" | "trades" | "audit";
const TABS: [Tab, string][] = [["health", "System health"], ["users", "Users"], ["funds", "Balances"], ["withdrawals", "Withdrawals"],
  ["markets", "Halts"], ["orders", "Orders"], ["trades", "Trades"], ["audit", "Audit log"]];

export default function Admin() {
  const session = useSession();
  const [tab, setTab] = useState<Tab>("health");
  if (!session) return <Navigate to="/signin" replace />;
  if (session.role !== "admin") return <main className="p-6"><h1 className="text-lg">Administrators only</h1><p>Your account is not an administrator.</p></main>;
  return (
    <main className="flex flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Administration</h1>
      <div role="tablist" aria-label="Administration" className="flex gap-4 border-b border-line">
        {TABS.map(([t, label]) => (
          <button key={t} type="button" role="tab" id={`admin-tab-${t}`} aria-selected={tab === t} aria-controls={`admin-panel-${t}`}
            className="tab py-1.5 text-sm" onClick={() => setTab(t)}>{label}</button>
        ))}
      </div>
      <section role="tabpanel" id={`admin-panel-${tab}`} aria-labelledby={`admin-tab-${tab}`}>
        {tab === "health" && <Health />}
        {tab === "users" && <Users />}
        {tab === "funds" && <Funds />}
        {tab === "withdrawals" && <Withdrawals />}
        {tab === "markets" && <Halts />}
        {tab === "orders" && <Orders />}
        {tab === "trades" && <Trades />}
        {tab === "audit" && <Audit />}
      </section>
    </main>
  );
}

function useAction() {
  const push = useToasts((s) => s.push);
  const queries = useQueryClient();
  return async (what: string, run: () => Promise<unknown>, invalidate: string[]) => {
    try {
      await run();
      push("success", what);
      for (const key of invalidate) await queries.invalidateQueries({ queryKey: [key] });
    } catch (e) {
      push("error", e instanceof ApiError ? e.message : `${what}: failed.`);
    }
  };
}

function Health() {
  const [points, setPoints] = useState<HealthPoint[]>([]);
  const previous = useRef<HealthSample | null>(null);
  const { data, error } = useQuery({
    queryKey: ["admin-health"], queryFn: api.admin.health, refetchInterval: 2000, refetchIntervalInBackground: false,
  });
  useEffect(() => {
    if (!data) return;
    const sample: HealthSample = { ...data, atMs: Date.now() };
    if (previous.current) {
      const point = healthPoint(previous.current, sample);
      setPoints((p) => [...p.slice(-89), point]);
    }
    previous.current = sample;
  }, [data]);
  if (error) return <p role="alert" className="text-down">{error.message}</p>;
  if (!data) return <p className="text-muted">Loading…</p>;
  const cards: [string, unknown][] = [
    ["Last sequence", data.seq], ["Sequencer queue", data.queue_depth], ["Journal lag", data.journal.lag], ["Journal mode", data.journal.mode],
    ["Projector lag", data.projector_lag], ["Snapshot at", data.snapshot_seq], ["WebSocket clients", data.websocket_clients],
    ["Open orders", data.open_orders], ["Busy refusals", data.busy_rejections], ["Uptime", formatUptime(Number(data.uptime_seconds))], ["Version", data.version],
  ];
  const chartData = points.map((p) => ({ ...p, time: new Date(p.atMs).toLocaleTimeString() }));
  return (
    <div className="flex flex-col gap-3">
      <dl className="grid grid-cols-4 gap-2 lg:grid-cols-6" data-testid="health-cards">
        {cards.map(([label, value]) => (
          <div key={label} className="panel p-2"><dt className="text-xs text-muted">{label}</dt><dd className="num text-base">{String(value ?? "—")}</dd></div>
        ))}
      </dl>
      <Projector projector={data.projector} />
      <div className="grid grid-cols-2 gap-3">
        <Chart title="Orders and trades per second" data={chartData} lines={[["ordersPerSec", "orders/s", "#f0b90b"], ["tradesPerSec", "trades/s", "#2ebd85"]]} />
        <Chart title="Acknowledgement latency (ms)" data={chartData} lines={[["p50Ms", "p50", "#7cb7ff"], ["p99Ms", "p99", "#f6465d"]]} />
      </div>
    </div>
  );
}

/** The SQL projector: how far it has written, its failures and its dead letters
 * (records it could not write and skipped; the read model misses them until rebuilt). */
function Projector({ projector }: { projector: AdminHealth["projector"] }) {
  if (!projector) return <p className="panel p-2 text-muted" data-testid="projector-health">No SQL projector runs in this server.</p>;
  const letter = projector.last_dead_letter;
  const dead = projector.dead_letters > 0;
  return (
    <section className={`panel p-2 ${dead ? "border-down" : ""}`} aria-labelledby="projector-title" data-testid="projector-health">
      <h2 id="projector-title" className="mb-1 text-sm font-semibold">SQL projector</h2>
      <dl className="grid grid-cols-5 gap-2">
        <div><dt className="text-xs text-muted">Written up to</dt><dd className="num">{projector.last_seq}</dd></div>
        <div><dt className="text-xs text-muted">Lag (commands)</dt><dd className="num">{projector.lag}</dd></div>
        <div><dt className="text-xs text-muted">State</dt><dd className={projector.behind ? "text-down" : "text-up"}>{projector.behind ? "behind" : "keeping up"}</dd></div>
        <div><dt className="text-xs text-muted">Write errors</dt><dd className={`num ${projector.errors ? "text-down" : ""}`}>{projector.errors}</dd></div>
        <div><dt className="text-xs text-muted">Dead letters</dt><dd className={`num ${dead ? "font-semibold text-down" : ""}`} data-testid="dead-letters">{projector.dead_letters}</dd></div>
      </dl>
      {projector.last_error && <p className="mt-1 text-xs"><span className="text-muted">Last error: </span><span className="text-[#ff8a99]">{projector.last_error}</span></p>}
      {letter && (
        <div className="mt-2" role="alert">
          <p className="text-xs">
            Records the read model could not write were skipped: history, balances and the audit log miss them until
            it is rebuilt from the journal (<code>matchbook db rebuild</code>) once the cause is fixed.
          </p>
          <table className="grid-table num mt-1" aria-label="Last dead letter" data-testid="last-dead-letter">
            <thead><tr><th scope="col">Recorded</th><th scope="col">First seq</th><th scope="col">Last seq</th><th scope="col">Error</th></tr></thead>
            <tbody><tr>
              <td>{formatDateTime(letter.recorded_ns)}</td><td>{letter.first_seq}</td><td>{letter.last_seq}</td>
              <td className="max-w-xl truncate text-left" title={letter.error}>{letter.error}</td>
            </tr></tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function formatUptime(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${h} h ${m} min ${Math.floor(seconds % 60)} s`;
}

function Chart({ title, data, lines }: { title: string; data: object[]; lines: [string, string, string][] }) {
  return (
    <figure className="panel m-0 h-64 p-2" aria-label={title}>
      <figcaption className="text-xs font-semibold">{title}</figcaption>
      <ResponsiveContainer width="100%" height="90%">
        <LineChart data={data}>
          <CartesianGrid stroke="#1e242d" />
          <XAxis dataKey="time" tick={{ fill: "#8b94a3", fontSize: 10 }} minTickGap={40} />
          <YAxis tick={{ fill: "#8b94a3", fontSize: 10 }} width={50} />
          <Tooltip isAnimationActive={false} contentStyle={{ background: "#14181f", border: "1px solid #262c36" }} />
          <Legend />
          {lines.map(([key, name, color]) => <Line key={key} dataKey={key} name={name} stroke={color} dot={false} isAnimationActive={false} connectNulls />)}
        </LineChart>
      </ResponsiveContainer>
    </figure>
  );
}

function Users() {
  const id = useId();
  const [search, setSearch] = useState("");
  const { data = [], error } = useQuery({ queryKey: ["admin-users"], queryFn: () => api.admin.users(1000) });
  const act = useAction();
  const shown = data.filter((u) => u.email.toLowerCase().includes(search.trim().toLowerCase()) || String(u.user_id) === search.trim());
  return (
    <div className="panel">
      <div className="flex items-center gap-2 p-2">
        <label htmlFor={`${id}-q`} className="text-xs text-muted">Search users (email or id)</label>
        <input id={`${id}-q`} className="input w-72" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      {error && <p role="alert" className="p-2 text-down">{error.message}</p>}
      <table className="grid-table" aria-label="Users" data-testid="admin-users">
        <thead><tr><th scope="col">Id</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Open orders</th><th scope="col">State</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {shown.map((u) => (
            <tr key={u.user_id} data-user-id={u.user_id}>
              <td>{u.user_id}</td><td>{u.email}</td><td>{u.role}</td><td>{u.open_orders}</td>
              <td className={u.suspended ? "text-down" : "text-up"}>{u.suspended ? "suspended" : "active"}</td>
              <td>{u.suspended
                ? <button type="button" className="btn py-0 text-xs" onClick={() => act(`User ${u.user_id} reinstated`, () => api.admin.reinstate(u.user_id), ["admin-users"])}>Reinstate</button>
                : <button type="button" className="btn py-0 text-xs" onClick={() => act(`User ${u.user_id} suspended`, () => api.admin.suspend(u.user_id), ["admin-users"])}>Suspend</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Funds() {
  const id = useId();
  const { data: assets = [] } = useAssets();
  const [userId, setUserId] = useState("");
  const [asset, setAsset] = useState("USD");
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const act = useAction();
  const submit = (kind: "deposit" | "adjust") => async (e?: FormEvent) => {
    e?.preventDefault();
    setError(null);
    const uid = Number(userId);
    if (!Number.isInteger(uid) || uid <= 0) return setError("Enter a user id.");
    if (!/^-?\d+(\.\d+)?$/.test(amount.trim())) return setError("Enter an amount (negative to debit, for an adjustment).");
    if (kind === "adjust" && !reason.trim()) return setError("An adjustment needs a reason.");
    if (kind === "deposit" && amount.trim().startsWith("-")) return setError("A deposit is positive.");
    await act(kind === "deposit" ? `Deposited ${amount} ${asset} to user ${uid}` : `Adjusted user ${uid} by ${amount} ${asset}`,
      () => kind === "deposit" ? api.admin.deposit(uid, asset, amount.trim(), reason.trim()) : api.admin.adjust(uid, asset, amount.trim(), reason.trim()), ["admin-users"]);
  };
  return (
    <form className="panel flex max-w-xl flex-col gap-2 p-3" onSubmit={submit("adjust")} aria-label="Balance adjustment">
      <div className="grid grid-cols-3 gap-2">
        <div><label htmlFor={`${id}-u`} className="text-xs text-muted">User id</label><input id={`${id}-u`} className="input" inputMode="numeric" value={userId} onChange={(e) => setUserId(e.target.value)} /></div>
        <div><label htmlFor={`${id}-a`} className="text-xs text-muted">Asset</label>
          <select id={`${id}-a`} className="input" value={asset} onChange={(e) => setAsset(e.target.value)}>{assets.map((a) => <option key={a.asset}>{a.asset}</option>)}</select></div>
        <div><label htmlFor={`${id}-m`} className="text-xs text-muted">Amount</label><input id={`${id}-m`} className="input num" value={amount} onChange={(e) => setAmount(e.target.value)} /></div>
      </div>
      <div><label htmlFor={`${id}-r`} className="text-xs text-muted">Reason or reference</label><input id={`${id}-r`} className="input" value={reason} onChange={(e) => setReason(e.target.value)} /></div>
      {error && <p role="alert" className="field-error">{error}</p>}
      <div className="flex gap-2">
        <button type="submit" className="btn">Adjust balance</button>
        <button type="button" className="btn btn-buy" onClick={() => void submit("deposit")()}>Deposit</button>
      </div>
    </form>
  );
}

function Withdrawals() {
  const { data = [], error } = useQuery({ queryKey: ["admin-withdrawals"], queryFn: api.admin.withdrawals, refetchInterval: 5000 });
  const act = useAction();
  if (error) return <p role="alert" className="text-down">{error.message}</p>;
  if (!data.length) return <p className="text-muted">No withdrawal waits for approval.</p>;
  return (
    <table className="grid-table panel" aria-label="Pending withdrawals" data-testid="admin-withdrawals">
      <thead><tr><th scope="col">Id</th><th scope="col">User</th><th scope="col">Asset</th><th scope="col">Amount</th><th scope="col">Destination</th><th scope="col"><span className="sr-only">Decision</span></th></tr></thead>
      <tbody>
        {data.map((w) => (
          <tr key={w.withdrawal_id}>
            <td>{w.withdrawal_id}</td><td>{w.user_id}</td><td>{w.asset}</td><td className="num">{w.amount}</td><td>{w.destination || "—"}</td>
            <td className="whitespace-nowrap">
              <button type="button" className="btn btn-buy mr-1 py-0 text-xs" onClick={() => act(`Withdrawal ${w.withdrawal_id} approved`, () => api.admin.approve(w.withdrawal_id), ["admin-withdrawals"])}>Approve</button>
              <button type="button" className="btn btn-sell py-0 text-xs" onClick={() => act(`Withdrawal ${w.withdrawal_id} rejected`, () => api.admin.reject(w.withdrawal_id, "rejected by an operator"), ["admin-withdrawals"])}>Reject</button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Halts() {
  const { data = [] } = useSymbols();
  const act = useAction();
  return (
    <div className="flex flex-col gap-2">
      <div className="flex gap-2">
        <button type="button" className="btn btn-sell" onClick={() => act("All trading halted", () => api.admin.halt("all"), ["symbols"])}>Halt all trading</button>
        <button type="button" className="btn btn-buy" onClick={() => act("All trading resumed", () => api.admin.resume("all"), ["symbols"])}>Resume all trading</button>
      </div>
      <table className="grid-table panel" aria-label="Markets" data-testid="admin-markets">
        <thead><tr><th scope="col">Market</th><th scope="col">State</th><th scope="col"><span className="sr-only">Action</span></th></tr></thead>
        <tbody>
          {data.map((s) => (
            <tr key={s.symbol}>
              <td>{s.symbol}</td><td className={s.halted ? "text-down" : "text-up"}>{s.halted ? "halted" : "trading"}</td>
              <td>{s.halted
                ? <button type="button" className="btn py-0 text-xs" onClick={() => act(`${s.symbol} resumed`, () => api.admin.resume(s.symbol), ["symbols"])}>Resume {s.symbol}</button>
                : <button type="button" className="btn py-0 text-xs" onClick={() => act(`${s.symbol} halted`, () => api.admin.halt(s.symbol), ["symbols"])}>Halt {s.symbol}</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The filter bar of the order and trade lists: user id, market and (orders) status. */
function useFilter(withStatus: boolean) {
  const id = useId();
  const { data: symbols = [] } = useSymbols();
  const [user, setUser] = useState("");
  const [symbol, setSymbol] = useState("");
  const [status, setStatus] = useState<AdminOrderStatus | "">(withStatus ? "open" : "");
  const userId = /^\d{1,9}$/.test(user.trim()) ? Number(user.trim()) : undefined;
  const bad = user.trim() !== "" && userId === undefined;
  const filter: AdminFilter = { ...(userId ? { userId } : {}), ...(symbol ? { symbol } : {}), ...(status ? { status } : {}) };
  const bar = (
    <div className="flex flex-wrap items-end gap-3 p-2">
      <div><label htmlFor={`${id}-u`} className="block text-xs text-muted">User id</label>
        <input id={`${id}-u`} className="input w-28" inputMode="numeric" value={user} onChange={(e) => setUser(e.target.value)}
          aria-invalid={bad || undefined} aria-describedby={bad ? `${id}-u-err` : undefined} /></div>
      <div><label htmlFor={`${id}-s`} className="block text-xs text-muted">Market</label>
        <select id={`${id}-s`} className="input w-36" value={symbol} onChange={(e) => setSymbol(e.target.value)}>
          <option value="">All markets</option>{symbols.map((s) => <option key={s.symbol}>{s.symbol}</option>)}
        </select></div>
      {withStatus && (
        <div><label htmlFor={`${id}-st`} className="block text-xs text-muted">Status</label>
          <select id={`${id}-st`} className="input w-40" value={status} onChange={(e) => setStatus(e.target.value as AdminOrderStatus | "")}>
            <option value="">All</option>
            {ORDER_STATUSES.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
          </select></div>
      )}
      {bad && <p id={`${id}-u-err`} className="field-error self-center">A user id is a whole number.</p>}
    </div>
  );
  return { filter: bad ? null : filter, bar };
}

const ORDER_STATUSES: [AdminOrderStatus, string][] = [["open", "Open (any)"], ["closed", "Closed (any)"], ["new", "New"],
  ["partially_filled", "Partially filled"], ["pending_trigger", "Waiting stop"], ["filled", "Filled"], ["cancelled", "Cancelled"], ["expired", "Expired"]];

/** Pages of a cursor-paged list: the first page refreshes live, "Load more" follows
 * ``next_cursor``. */
function usePages<T extends { next_cursor: string | null }>(key: string, filter: AdminFilter | null, load: (f: AdminFilter) => Promise<T>) {
  return useInfiniteQuery({
    queryKey: [key, filter],
    queryFn: ({ pageParam }) => load({ ...filter, limit: 100, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled: filter !== null,
    refetchInterval: 5000,
  });
}

function MoreButton({ query }: { query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown } }) {
  if (!query.hasNextPage) return null;
  return (
    <div className="p-2">
      <button type="button" className="btn text-xs" disabled={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()}>
        {query.isFetchingNextPage ? "Loading…" : "Load more"}
      </button>
    </div>
  );
}

function Orders() {
  const { filter, bar } = useFilter(true);
  const query = usePages("admin-orders", filter, api.admin.orders);
  const rows = query.data?.pages.flatMap((p) => p.orders) ?? [];
  return (
    <div className="panel">
      {bar}
      {query.error && <p role="alert" className="p-2 text-down">{query.error.message}</p>}
      <div className="max-h-[65vh] overflow-auto" tabIndex={0} aria-label="Orders, scrollable">
        <table className="grid-table num" aria-label="Orders of every user" data-testid="admin-orders">
          <thead><tr><th scope="col">Order</th><th scope="col">User</th><th scope="col">Updated</th><th scope="col">Market</th><th scope="col">Side</th>
            <th scope="col">Type</th><th scope="col">Price</th><th scope="col">Quantity</th><th scope="col">Filled</th><th scope="col">Fee</th><th scope="col">Status</th></tr></thead>
          <tbody>{rows.map((o) => (
            <tr key={o.order_id} data-order-id={o.order_id} data-user-id={o.user_id}>
              <td>{o.order_id}</td><td>{o.user_id}</td><td>{o.updated_ns ? formatDateTime(o.updated_ns) : "—"}</td><td>{o.symbol}</td>
              <td className={o.side === "buy" ? "text-up" : "text-down"}>{o.side === "buy" ? "Buy" : "Sell"}</td>
              <td>{o.type.replace("_", "-")} {o.time_in_force.toUpperCase()}{o.post_only ? " post-only" : ""}</td>
              <td>{o.price ?? "market"}{o.stop_price ? ` (stop ${o.stop_price})` : ""}</td>
              <td>{o.quantity}</td><td>{o.filled_quantity}</td><td>{o.fee ?? "—"} {o.fee_asset}</td>
              <td>{o.status.replace("_", " ")}{o.cancel_reason && o.status !== "filled" ? ` (${o.cancel_reason.replace(/_/g, " ")})` : ""}</td>
            </tr>
          ))}</tbody>
        </table>
        {query.isSuccess && rows.length === 0 && <p className="p-2 text-muted">No order matches.</p>}
        <MoreButton query={query} />
      </div>
    </div>
  );
}

function Trades() {
  const { filter, bar } = useFilter(false);
  const query = usePages("admin-trades", filter, api.admin.trades);
  const rows = query.data?.pages.flatMap((p) => p.trades) ?? [];
  return (
    <div className="panel">
      {bar}
      {query.error && <p role="alert" className="p-2 text-down">{query.error.message}</p>}
      <div className="max-h-[65vh] overflow-auto" tabIndex={0} aria-label="Trades, scrollable">
        <table className="grid-table num" aria-label="Trades of every user" data-testid="admin-trades">
          <thead><tr><th scope="col">Trade</th><th scope="col">Time</th><th scope="col">Market</th><th scope="col">Aggressor</th><th scope="col">Price</th>
            <th scope="col">Quantity</th><th scope="col">Notional</th><th scope="col">Maker (order)</th><th scope="col">Maker fee</th>
            <th scope="col">Taker (order)</th><th scope="col">Taker fee</th></tr></thead>
          <tbody>{rows.map((t) => (
            <tr key={t.trade_id} data-trade-id={t.trade_id}>
              <td>{t.trade_id}</td><td>{formatDateTime(t.timestamp_ns)}</td><td>{t.symbol}</td>
              <td className={t.side === "buy" ? "text-up" : "text-down"}>{t.side === "buy" ? "Buy" : "Sell"}</td>
              <td>{t.price}</td><td>{t.quantity}</td><td>{t.notional} {t.fee_asset}</td>
              <td>user {t.maker_user_id} ({t.maker_order_id})</td><td>{t.maker_fee}</td>
              <td>user {t.taker_user_id} ({t.taker_order_id})</td><td>{t.taker_fee}</td>
            </tr>
          ))}</tbody>
        </table>
        {query.isSuccess && rows.length === 0 && <p className="p-2 text-muted">No trade matches.</p>}
        <MoreButton query={query} />
      </div>
    </div>
  );
}

function Audit() {
  const id = useId();
  const [user, setUser] = useState("");
  const [kind, setKind] = useState("");
  const { data = [], error } = useQuery({ queryKey: ["admin-audit"], queryFn: () => api.admin.audit(1000), refetchInterval: 5000 });
  const shown = useMemo(() => data.filter((a) => (!user.trim() || String(a.user_id) === user.trim())
    && (!kind || a.command_type === kind)), [data, user, kind]);
  const kinds = useMemo(() => [...new Set(data.map((a) => a.command_type))].sort(), [data]);
  return (
    <div className="panel">
      <div className="flex items-center gap-3 p-2">
        <label htmlFor={`${id}-u`} className="text-xs text-muted">User id</label>
        <input id={`${id}-u`} className="input w-24" value={user} onChange={(e) => setUser(e.target.value)} />
        <label htmlFor={`${id}-k`} className="text-xs text-muted">Command</label>
        <select id={`${id}-k`} className="input w-48" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">All</option>{kinds.map((k) => <option key={k}>{k}</option>)}
        </select>
      </div>
      {error && <p role="alert" className="p-2 text-down">{error.message}</p>}
      <div className="max-h-[60vh] overflow-auto" tabIndex={0} aria-label="Audit log, scrollable">
        <table className="grid-table num" aria-label="Audit log" data-testid="admin-audit">
          <thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">User</th><th scope="col">Command</th><th scope="col">Result</th><th scope="col">Details</th></tr></thead>
          <tbody>{shown.slice(0, 300).map((a) => (
            <tr key={a.seq}>
              <td>{a.seq}</td><td>{formatDateTime(a.timestamp_ns)}</td><td>{a.user_id ?? "—"}</td><td>{a.command_type}</td>
              <td className={a.result_code ? "text-down" : ""}>{a.result_code || "ok"}</td>
              <td className="max-w-md truncate text-left">{JSON.stringify(a.command)}</td>
            </tr>
          ))}</tbody>
        </table>
      </div>
    </div>
  );
}
