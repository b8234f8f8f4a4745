// The header's link to the P2P notification inbox, with the unread count.
import { useEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { p2p } from "../api/p2p";
import { useSession } from "../hooks";
import { usePoll, useP2PLive, syncP2PStream } from "../stores/p2p";
import { useAuth } from "../stores/auth";

export function useNotifications(enabled: boolean) {
  const poll = usePoll(60_000, 5000);
  return useQuery({ queryKey: ["notifications"], queryFn: p2p.notifications, enabled, refetchInterval: poll });
}

/** The header's link to the inbox with the unread count; it also keeps the private
 * P2P stream running while signed in. */
export function InboxBadge() {
  const session = useSession();
  const queries = useQueryClient();
  const token = useAuth((s) => s.session?.accessToken ?? null);
  useEffect(() => syncP2PStream(queries), [token, queries]);
  const live = useP2PLive((s) => s.live);
  const notes = useNotifications(!!session);
  if (!session) return null;
  const unread = notes.data?.unread ?? 0;
  return (
    <Link to="/notifications" className="relative px-2 py-1 text-sm text-gray-300 no-underline hover:text-white" data-testid="inbox-badge"
      data-live={live} aria-label={unread ? `Notifications, ${unread} unread` : "Notifications"}>
      <svg aria-hidden="true" viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" className="inline-block align-[-3px]">
        <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" /><path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
      </svg>
      {unread > 0 && <span className="num absolute -top-1 -right-1 rounded-full bg-down px-1 text-[10px] font-bold text-white" data-testid="unread-count">{unread}</span>}
    </Link>
  );
}

