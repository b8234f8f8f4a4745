import { useEffect, useState } from "react";
import { badgeOf } from "../lib/feed";
import { useMarket } from "../stores/market";

/** Live / reconnecting / stale N s, from the age of the last data on the socket. */
export function ConnectionBadge() {
  const status = useMarket((s) => s.view.status);
  const lastMessageAt = useMarket((s) => s.view.lastMessageAt);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(id);
  }, []);
  if (status === "offline") return null;
  const badge = badgeOf(status, lastMessageAt, now);
  const text = badge.kind === "live" ? "Live" : badge.kind === "reconnecting" ? "Reconnecting" : `Stale ${badge.seconds} s`;
  const color = badge.kind === "live" ? "bg-up/20 text-up" : badge.kind === "reconnecting" ? "bg-accent/20 text-accent" : "bg-down/20 text-down";
  return (
    <span role="status" aria-live="polite" data-testid="connection-badge" data-state={badge.kind}
      className={`rounded px-2 py-0.5 text-xs font-semibold ${color}`}>
      <span aria-hidden="true">● </span>{text}
    </span>
  );
}
