// The notification inbox (trade opened, paid, released, disputed, resolved, messages),
// newest first; opening one marks it read; the header's badge counts the unread.
import { useId } from "react";
import { Link, Navigate } from "react-router";
import { p2p } from "../../api/p2p";
import { useNotifications } from "../../components/InboxBadge";
import { useSession } from "../../hooks";
import { useRun } from "./common";

export default function Inbox() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  return <InboxPage />;
}

function InboxPage() {
  const id = useId();
  const notes = useNotifications(true);
  const run = useRun();
  const list = [...(notes.data?.notifications ?? [])].sort((a, b) => b.notification_id - a.notification_id);
  const unread = list.filter((n) => !n.read);
  const newest = list[0]?.notification_id;
  return (
    <main className="mx-auto flex max-w-3xl flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Notifications</h1>
      <section className="panel" aria-labelledby={`${id}-t`}>
        <div className="flex items-center border-b border-line px-3 py-1.5">
          <h2 id={`${id}-t`} className="text-xs font-semibold">{notes.data?.unread ?? unread.length} unread</h2>
          {unread.length > 0 && newest !== undefined && (
            <button type="button" className="btn ml-auto py-0 text-xs" onClick={() => run("All marked read", () => p2p.markAllRead(newest), ["notifications"])}>Mark all read</button>
          )}
        </div>
        {notes.error && <p role="alert" className="p-3 text-down">{notes.error.message}</p>}
        <ul className="divide-y divide-line" aria-label="Notifications" data-testid="notifications">
          {list.map((n) => (
            <li key={n.notification_id} className={`flex items-center gap-3 px-3 py-2 ${n.read ? "text-muted" : ""}`} data-read={n.read}>
              {!n.read && <span className="h-2 w-2 rounded-full bg-accent" aria-label="unread" role="img" />}
              <span className="flex-1">{n.text}</span>
              <time className="num text-xs text-muted" dateTime={n.at}>{new Date(n.at).toLocaleString()}</time>
              {n.trade_id != null && (
                <Link to={`/p2p/trades/${n.trade_id}`} className="text-xs" onClick={() => { if (!n.read) void p2p.markRead([n.notification_id]); }}>
                  Open trade {n.trade_id}
                </Link>
              )}
              {!n.read && <button type="button" className="btn py-0 text-xs" aria-label={`Mark notification ${n.notification_id} read`}
                onClick={() => run("Marked read", () => p2p.markRead([n.notification_id]), ["notifications"])}>Read</button>}
            </li>
          ))}
        </ul>
        {notes.isSuccess && list.length === 0 && <p className="p-3 text-muted">No notifications.</p>}
      </section>
    </main>
  );
}
