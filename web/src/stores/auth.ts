// The signed-in session, kept in localStorage so a reload stays signed in; the access
// token is refreshed before it expires.
import { create } from "zustand";
import { api, bindSession, refreshSession, type Session } from "../api/client";

const KEY = "matchbook.session";

function load(): Session | null {
  try {
    const text = localStorage.getItem(KEY);
    return text ? (JSON.parse(text) as Session) : null;
  } catch {
    return null;
  }
}

interface AuthState {
  session: Session | null;
  signIn: (email: string, password: string) => Promise<Session>;
  signOut: () => void;
  set: (session: Session | null) => void;
}

export const useAuth = create<AuthState>((set) => ({
  session: load(),
  signIn: async (email, password) => {
    const session = await api.logIn(email, password);
    persist(session);
    set({ session });
    return session;
  },
  signOut: () => {
    persist(null);
    set({ session: null });
  },
  set: (session) => {
    persist(session);
    set({ session });
  },
}));

function persist(session: Session | null): void {
  try {
    if (session) localStorage.setItem(KEY, JSON.stringify(session));
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: the session lasts for the page */
  }
}

bindSession(() => useAuth.getState().session, (s) => useAuth.getState().set(s));

// refresh at 80% of the access token's life
let timer: ReturnType<typeof setTimeout> | null = null;
function schedule(session: Session | null): void {
  if (timer) clearTimeout(timer);
  timer = null;
  if (!session) return;
  const life = session.expiresAtMs - Date.now();
  timer = setTimeout(() => void refreshSession(), Math.max(life * 0.8, 1000));
}
if (typeof window !== "undefined") {
  schedule(useAuth.getState().session);
  useAuth.subscribe((state, previous) => {
    if (state.session !== previous.session) schedule(state.session);
  });
}
