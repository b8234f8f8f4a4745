import { useEffect, useState } from "react";
import { badgeOf } from "../lib/feed";
import { useMarket } from "../stores/market";

/** Live / reconnecting / stale N s, from the age of the last data on the socket. */
export function ConnectionBadge() {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(id);
  }, []);
  // the badge's text, not the time of the last message (which changes with every one):
  // the badge redraws when what it says changes
  const text = useMarket((s) => {
    if (s.view.status === "offline") return null;
    const badge = badgeOf(s.view.status, s.view.lastMessageAt, now);
    return badge.kind === "live" ? "live:Live" : badge.kind === "reconnecting" ? "reconnecting:Reconnecting" : `stale:Stale ${badge.seconds} s`;
  });
  if (text === null) return null;
  const [kind, label] = text.split(":") as [string, string];
  const badge = { kind };
  const color = badge.kind === "live" ? "bg-up/20 text-up" : badge.kind === "reconnecting" ? "bg-accent/20 text-accent" : "bg-down/20 text-down";
  return (
    <span role="status" aria-live="polite" data-testid="connection-badge" data-state={badge.kind}
      className={`rounded px-2 py-0.5 text-xs font-semibold ${color}`}>
      <span aria-hidden="true">● </span>{label}
    </span>
  );
}
