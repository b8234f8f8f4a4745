import { useAssets, useSession } from "../hooks";
import { formatFixed } from "../lib/decimal";
import { useMarket } from "../stores/market";

/** Available and held per asset, from the private balances stream. */
export function Balances({ assets: only }: { assets?: string[] }) {
  const session = useSession();
  const balances = useMarket((s) => s.view.balances);
  const { data: assets = [] } = useAssets();
  const decimals = new Map(assets.map((a) => [a.asset, a.decimals]));
  if (!session) return null;
  const shown = (balances ?? []).filter((b) => !only || only.includes(b.asset));
  return (
    <div>
      <h2 className="panel-title">Balances</h2>
      <table className="grid-table num" aria-label="Balances" data-testid="balances">
        <thead><tr><th scope="col">Asset</th><th scope="col">Available</th><th scope="col">Held</th></tr></thead>
        <tbody>
          {shown.map((b) => (
            <tr key={b.asset} data-asset={b.asset}>
              <td>{b.asset}</td>
              <td data-testid={`available-${b.asset}`}>{formatFixed(b.available, decimals.get(b.asset) ?? 8, true)}</td>
              <td className="text-muted" data-testid={`held-${b.asset}`}>{formatFixed(b.held, decimals.get(b.asset) ?? 8, true)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {balances === null && <p className="p-2 text-muted">Loading…</p>}
    </div>
  );
}
