import { useId, useState, type FormEvent } from "react";
import { Bar, BarChart, CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { ApiError, runSimulation } from "../api/client";
import { changeAgainst, normaliseSimulation, type SimulationRun } from "../lib/simulation";

const KEY = "matchbook.simulation-runs";

function loadRuns(): SimulationRun[] {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "[]") as SimulationRun[];
  } catch {
    return [];
  }
}

const us = (v: number | null) => (v === null ? "—" : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`);

export default function Performance() {
  const id = useId();
  const [numOrders, setNumOrders] = useState("10000");
  const [runs, setRuns] = useState<SimulationRun[]>(loadRuns);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const current = runs[runs.length - 1];

  const run = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const n = Number(numOrders);
    if (!Number.isInteger(n) || n < 1 || n > 10_000_000) {
      setError("The number of orders must be a whole number from 1 to 10,000,000.");
      return;
    }
    setBusy(true);
    try {
      const body = await runSimulation(n);
      const next = [...runs, normaliseSimulation(body, n, (runs.at(-1)?.id ?? 0) + 1, Date.now())].slice(-20);
      setRuns(next);
      localStorage.setItem(KEY, JSON.stringify(next));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        setError("This server has no simulator: POST /api/simulation answered 404 Not Found. Run a server that includes the market simulator.");
      } else {
        setError(err instanceof Error ? err.message : "The simulation failed.");
      }
    } finally {
      setBusy(false);
    }
  };

  const previous = runs[runs.length - 2];
  return (
    <main className="flex flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Performance</h1>
      <form className="panel flex items-end gap-3 p-3" onSubmit={run} aria-label="Run a simulation">
        <div>
          <label htmlFor={`${id}-n`} className="text-xs text-muted">Number of orders</label>
          <input id={`${id}-n`} className="input num w-40" inputMode="numeric" value={numOrders} onChange={(e) => setNumOrders(e.target.value)} />
        </div>
        <button type="submit" className="btn btn-buy" disabled={busy}>{busy ? "Running…" : "Run simulation"}</button>
      </form>
      {error && <p role="alert" className="rounded bg-down/15 px-3 py-2 text-[#ff8a99]" data-testid="simulation-error">{error}</p>}
      {current && (
        <>
          <dl className="grid grid-cols-3 gap-2 lg:grid-cols-6" data-testid="simulation-kpis">
            {([["Orders", current.orders.toLocaleString()], ["Trades", current.trades.toLocaleString()],
              ["Throughput", `${Math.round(current.throughput).toLocaleString()} orders/s`], ["p50", us(current.p50Us)],
              ["p99", us(current.p99Us)], ["p99.9", us(current.p999Us)]] as const).map(([label, value]) => (
              <div key={label} className="panel p-2"><dt className="text-xs text-muted">{label}</dt><dd className="num text-base">{value}</dd></div>
            ))}
          </dl>
          <div className="grid grid-cols-2 gap-3">
            <figure className="panel m-0 h-72 p-2" aria-label="Latency histogram, log scale">
              <figcaption className="text-xs font-semibold">Latency histogram (count, log scale)</figcaption>
              <ResponsiveContainer width="100%" height="90%">
                <BarChart data={current.histogram.map((b) => ({ bucket: us(b.upperUs), count: Math.max(b.count, 0.9) }))}>
                  <CartesianGrid stroke="#1e242d" />
                  <XAxis dataKey="bucket" tick={{ fill: "#8b94a3", fontSize: 10 }} />
                  <YAxis scale="log" domain={[0.9, "auto"]} allowDataOverflow tick={{ fill: "#8b94a3", fontSize: 10 }} width={50} />
                  <Tooltip isAnimationActive={false} contentStyle={{ background: "#14181f", border: "1px solid #262c36" }} />
                  <Bar dataKey="count" fill="#f0b90b" isAnimationActive={false} />
                </BarChart>
              </ResponsiveContainer>
            </figure>
            <figure className="panel m-0 h-72 p-2" aria-label="Throughput over time">
              <figcaption className="text-xs font-semibold">Throughput over time (orders/s)</figcaption>
              <ResponsiveContainer width="100%" height="90%">
                <LineChart data={current.series}>
                  <CartesianGrid stroke="#1e242d" />
                  <XAxis dataKey="t" tick={{ fill: "#8b94a3", fontSize: 10 }} />
                  <YAxis tick={{ fill: "#8b94a3", fontSize: 10 }} width={60} />
                  <Tooltip isAnimationActive={false} contentStyle={{ background: "#14181f", border: "1px solid #262c36" }} />
                  <Line dataKey="value" stroke="#2ebd85" dot={false} isAnimationActive={false} />
                </LineChart>
              </ResponsiveContainer>
            </figure>
          </div>
        </>
      )}
      <section className="panel" aria-labelledby={`${id}-runs`}>
        <h2 id={`${id}-runs`} className="panel-title">Past runs</h2>
        {runs.length === 0 ? <p className="p-3 text-muted">No run yet.</p> : (
          <table className="grid-table num" aria-label="Past simulation runs" data-testid="simulation-runs">
            <thead><tr><th scope="col">Run</th><th scope="col">Orders</th><th scope="col">Trades</th><th scope="col">Throughput</th>
              <th scope="col">Change</th><th scope="col">p99</th><th scope="col">Change</th></tr></thead>
            <tbody>
              {runs.slice().reverse().map((r, i, all) => {
                const before = all[i + 1];
                return (
                  <tr key={r.id}>
                    <td>#{r.id} {new Date(r.at).toLocaleTimeString()}</td><td>{r.orders.toLocaleString()}</td><td>{r.trades.toLocaleString()}</td>
                    <td>{Math.round(r.throughput).toLocaleString()}/s</td><td>{changeAgainst(r.throughput, before?.throughput) ?? "—"}</td>
                    <td>{us(r.p99Us)}</td><td>{changeAgainst(r.p99Us, before?.p99Us) ?? "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {previous && <p className="sr-only">Compared with run {previous.id}.</p>}
      </section>
    </main>
  );
}
