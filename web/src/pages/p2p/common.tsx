// Pieces shared by the P2P pages: the section's navigation, the countdown, the state
// badge, the maker's stats, and how an action reports its error.
import { useEffect, useState } from "react";
import { NavLink } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { p2p } from "../../api/p2p";
import { formatFixed } from "../../lib/decimal";
import { ApiError } from "../../api/client";
import { useSession } from "../../hooks";
import { formatCountdown, remainingMs, statsLine, STATE_LABEL, type MakerStats, type TradeState } from "../../lib/p2p";
import { useToasts } from "../../stores/toasts";

export function P2PNav() {
  const session = useSession();
  const link = ({ isActive }: { isActive: boolean }) => `px-2 py-1 rounded ${isActive ? "text-accent" : "text-gray-300 hover:text-white"}`;
  return (
    <nav aria-label="P2P" className="flex flex-wrap gap-1 border-b border-line pb-2 text-sm">
      <NavLink to="/p2p" end className={link}>Ad board</NavLink>
      {session && <NavLink to="/p2p/new" className={link}>Post an ad</NavLink>}
      {session && <NavLink to="/p2p/mine" className={link}>My ads and trades</NavLink>}
      {session && <NavLink to="/p2p/payment-methods" className={link}>Payment methods</NavLink>}
      {session?.role === "admin" && <NavLink to="/p2p/disputes" className={link}>Dispute queue</NavLink>}
      {session?.role === "admin" && <NavLink to="/p2p/moderation" className={link}>Ad moderation</NavLink>}
    </nav>
  );
}

/** A countdown to ``deadline`` from the server's ``now`` (received at ``receivedAt`` on
 * the page's monotonic clock); ticks every second, calls ``onZero`` once at zero. */
export function Countdown({ deadline, serverNow, receivedAt, label, onZero }: {
  deadline: string; serverNow: string; receivedAt: number; label: string; onZero?: () => void;
}) {
  const [, tick] = useState(0);
  const left = remainingMs(deadline, serverNow, receivedAt, performance.now()) ?? 0;
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    if (left === 0) onZero?.();
  }, [left === 0]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <p className="flex items-baseline gap-2" data-testid="countdown">
      <span className="text-xs text-muted">{label}</span>
      <span role="timer" aria-label={label} className={`num text-lg font-semibold ${left < 60_000 ? "text-down" : "text-accent"}`}>{formatCountdown(left)}</span>
    </p>
  );
}

export function StateBadge({ state }: { state: TradeState | string }) {
  const tone = state === "completed" || state === "resolved_release" ? "text-up"
    : state === "disputed" || state === "cancelled" || state === "expired" || state === "resolved_refund" ? "text-down" : "text-accent";
  return <span className={`text-xs font-semibold ${tone}`} data-state={state}>{STATE_LABEL[state as TradeState] ?? state}</span>;
}

/** The maker's record (nothing while it loads: a maker is not "new" until we know). */
export function Stats({ stats }: { stats: MakerStats | null | undefined }) {
  if (!stats) return null;
  return <span className="text-xs text-muted" data-testid="maker-stats">{statsLine(stats)}</span>;
}

export function errorText(e: unknown, fallback: string): string {
  return e instanceof ApiError ? e.message : fallback;
}

/** Run an action: a toast with the outcome, then the named queries refetched. */
export function useRun() {
  const push = useToasts((s) => s.push);
  const queries = useQueryClient();
  return async <T,>(what: string, run: () => Promise<T>, invalidate: string[]): Promise<T | null> => {
    try {
      const out = await run();
      push("success", what);
      for (const key of invalidate) await queries.invalidateQueries({ queryKey: [key] });
      return out;
    } catch (e) {
      push("error", errorText(e, `${what}: failed.`));
      for (const key of invalidate) await queries.invalidateQueries({ queryKey: [key] });
      return null;
    }
  };
}

/** The desk's fiat currencies and their decimals, from the server (`GET /p2p/config`,
 * its markets file's [fiat] table). While it loads there are no currencies to choose,
 * and amounts are shown with the decimals the server sent them in. */
/** A fiat amount or price as the server sent it (already in the fiat's decimals), with
 * its thousands grouped: never re-rounded. */
export function formatFiat(value: string): string {
  return formatFixed(value, value.split(".")[1]?.length ?? 0, true);
}

export function useFiats(): { codes: string[]; decimals: (code: string) => number | undefined } {
  const config = useQuery({ queryKey: ["p2p-config"], queryFn: p2p.config, staleTime: 3_600_000 });
  const fiats = config.data?.fiats ?? [];
  return {
    codes: fiats.map((f) => f.code),
    decimals: (code: string) => fiats.find((f) => f.code === code)?.decimals,
  };
}
