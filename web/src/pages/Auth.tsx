import { useId, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { api, ApiError } from "../api/client";
import { useAuth } from "../stores/auth";

export function SignIn() {
  return <AuthForm mode="signin" />;
}

export function SignUp() {
  return <AuthForm mode="signup" />;
}

function AuthForm({ mode }: { mode: "signin" | "signup" }) {
  const id = useId();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signIn = useAuth((s) => s.signIn);
  const navigate = useNavigate();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (mode === "signup" && password.length < 8) {
      setError("The password needs at least 8 characters.");
      return;
    }
    setBusy(true);
    try {
      if (mode === "signup") await api.signUp(email.trim(), password);
      await signIn(email.trim(), password);
      navigate("/trade/BTC-USD");
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The server could not be reached.");
    } finally {
      setBusy(false);
    }
  };
  const title = mode === "signin" ? "Sign in" : "Sign up";
  return (
    <main className="flex justify-center p-10">
      <form className="panel flex w-96 flex-col gap-3 p-6" onSubmit={submit} aria-labelledby={`${id}-title`}>
        <h1 id={`${id}-title`} className="text-lg font-semibold">{title}</h1>
        <div>
          <label htmlFor={`${id}-email`} className="text-xs text-muted">Email</label>
          <input id={`${id}-email`} type="email" autoComplete="email" required className="input" value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-password`} className="text-xs text-muted">Password{mode === "signup" ? " (at least 8 characters)" : ""}</label>
          <input id={`${id}-password`} type="password" autoComplete={mode === "signin" ? "current-password" : "new-password"} required
            className="input" value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        {error && <p role="alert" className="rounded bg-down/15 px-2 py-1 text-xs text-[#ff8a99]">{error}</p>}
        <button type="submit" className="btn btn-buy" disabled={busy}>{mode === "signin" ? "Sign in" : "Create account"}</button>
        <p className="text-xs text-muted">
          {mode === "signin" ? <>No account? <Link to="/signup">Sign up</Link></> : <>Have an account? <Link to="/signin">Sign in</Link></>}
        </p>
      </form>
    </main>
  );
}
