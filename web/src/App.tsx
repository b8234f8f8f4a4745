import { lazy, Suspense } from "react";
import { BrowserRouter, Link, Navigate, NavLink, Route, Routes, useNavigate } from "react-router";
import { QueryClientProvider } from "@tanstack/react-query";
import Trade from "./pages/Trade";
import { SignIn, SignUp } from "./pages/Auth";
import { ConnectionBadge } from "./components/ConnectionBadge";
import { Toasts } from "./components/Toasts";
import { InboxBadge } from "./components/InboxBadge";
import { useAuth } from "./stores/auth";
import { queries } from "./queries";

// pages beyond the trading screen are separate chunks
const Wallet = lazy(() => import("./pages/Wallet"));
const ApiKeys = lazy(() => import("./pages/ApiKeys"));
const Admin = lazy(() => import("./pages/Admin"));
const Performance = lazy(() => import("./pages/Performance"));
const P2PBoard = lazy(() => import("./pages/p2p/Board"));
const P2PPostAd = lazy(() => import("./pages/p2p/PostAd"));
const P2PMine = lazy(() => import("./pages/p2p/Mine"));
const P2PPaymentMethods = lazy(() => import("./pages/p2p/PaymentMethods"));
const P2PTradeRoom = lazy(() => import("./pages/p2p/TradeRoom"));
const P2PDisputes = lazy(() => import("./pages/p2p/Disputes"));
const P2PModeration = lazy(() => import("./pages/p2p/Moderation"));
const Inbox = lazy(() => import("./pages/p2p/Inbox"));


function Header() {
  const session = useAuth((s) => s.session);
  const signOut = useAuth((s) => s.signOut);
  const navigate = useNavigate();
  const link = ({ isActive }: { isActive: boolean }) => `whitespace-nowrap px-2 py-1 rounded ${isActive ? "text-accent" : "text-gray-300 hover:text-white"}`;
  return (
    // one line of 44 px on a desktop; on a narrow screen the links wrap instead of running off it
    <header className="flex min-h-11 flex-wrap items-center gap-x-3 border-b border-line px-3">
      <Link to="/" className="font-bold text-accent no-underline">Matchbook</Link>
      <nav aria-label="Main" className="flex flex-wrap gap-1 text-sm">
        <NavLink to="/trade/BTC-USD" className={link}>Trade</NavLink>
        <NavLink to="/p2p" className={link}>P2P</NavLink>
        {session && <NavLink to="/wallet" className={link}>Wallet</NavLink>}
        {session && <NavLink to="/keys" className={link}>API keys</NavLink>}
        {session?.role === "admin" && <NavLink to="/admin" className={link}>Admin</NavLink>}
        <NavLink to="/performance" className={link}>Performance</NavLink>
      </nav>
      <div className="ml-auto flex items-center gap-3">
        <InboxBadge />
        <ConnectionBadge />
        {session ? (
          <>
            <span className="hidden text-xs text-muted sm:inline" data-testid="signed-in-as">{session.email}</span>
            <button type="button" className="btn py-0.5 text-xs" onClick={() => { signOut(); navigate("/trade/BTC-USD"); }}>Sign out</button>
          </>
        ) : (
          <>
            <Link to="/signin" className="btn py-0.5 text-xs no-underline">Sign in</Link>
            <Link to="/signup" className="btn btn-buy py-0.5 text-xs no-underline">Sign up</Link>
          </>
        )}
      </div>
    </header>
  );
}

export default function App() {
  return (
    <QueryClientProvider client={queries}>
      <BrowserRouter>
        <Header />
        <Suspense fallback={<p className="p-6 text-muted">Loading…</p>}>
          <Routes>
            <Route path="/" element={<Navigate to="/trade/BTC-USD" replace />} />
            <Route path="/trade/:symbol" element={<Trade />} />
            <Route path="/signin" element={<SignIn />} />
            <Route path="/signup" element={<SignUp />} />
            <Route path="/wallet" element={<Wallet />} />
            <Route path="/keys" element={<ApiKeys />} />
            <Route path="/admin/*" element={<Admin />} />
            <Route path="/performance" element={<Performance />} />
            <Route path="/p2p" element={<P2PBoard />} />
            <Route path="/p2p/new" element={<P2PPostAd />} />
            <Route path="/p2p/mine" element={<P2PMine />} />
            <Route path="/p2p/payment-methods" element={<P2PPaymentMethods />} />
            <Route path="/p2p/trades/:tradeId" element={<P2PTradeRoom />} />
            <Route path="/p2p/disputes" element={<P2PDisputes />} />
            <Route path="/p2p/moderation" element={<P2PModeration />} />
            <Route path="/notifications" element={<Inbox />} />
            <Route path="*" element={<main className="p-6"><h1 className="text-lg">Page not found</h1><Link to="/">Back to trading</Link></main>} />
          </Routes>
        </Suspense>
        <Toasts />
      </BrowserRouter>
    </QueryClientProvider>
  );
}
