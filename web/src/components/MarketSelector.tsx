import { useId, useState } from "react";
import { useNavigate } from "react-router";
import { useSymbols } from "../hooks";

export function MarketSelector({ current }: { current: string }) {
  const { data: symbols = [] } = useSymbols();
  const [query, setQuery] = useState("");
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();
  const id = useId();
  const shown = symbols.filter((s) => s.symbol.toLowerCase().includes(query.trim().toLowerCase()));
  return (
    <div className="relative">
      <button type="button" className="btn text-base" aria-haspopup="listbox" aria-expanded={open} aria-controls={id}
        onClick={() => setOpen(!open)}>
        {current} <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <div className="panel absolute z-40 mt-1 w-64 p-2">
          <label className="mb-1 block text-xs text-muted" htmlFor={`${id}-search`}>Search markets</label>
          <input id={`${id}-search`} className="input mb-2" autoFocus value={query} onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => { if (e.key === "Escape") setOpen(false); }} placeholder="BTC, ETH…" />
          <ul id={id} role="listbox" aria-label="Markets" className="max-h-64 overflow-auto">
            {shown.map((s) => (
              <li key={s.symbol} role="option" aria-selected={s.symbol === current} tabIndex={0}
                className="flex cursor-pointer justify-between rounded px-2 py-1 hover:bg-white/5 aria-selected:text-accent"
                onClick={() => { setOpen(false); setQuery(""); navigate(`/trade/${s.symbol}`); }}
                onKeyDown={(e) => { if (e.key === "Enter") { setOpen(false); navigate(`/trade/${s.symbol}`); } }}>
                <span>{s.symbol}</span>{s.halted && <span className="text-down">halted</span>}
              </li>
            ))}
            {shown.length === 0 && <li className="px-2 py-1 text-muted">No market matches.</li>}
          </ul>
        </div>
      )}
    </div>
  );
}
