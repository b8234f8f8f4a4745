import { useId, useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Navigate } from "react-router";
import { api, ApiError, type NewApiKey, type Scope } from "../api/client";
import { useSession } from "../hooks";
import { formatDateTime } from "../lib/time";

const SCOPES: Scope[] = ["read", "trade", "withdraw"];

export default function ApiKeys() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  return <KeysPage />;
}

function KeysPage() {
  const id = useId();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: api.apiKeys });
  const queries = useQueryClient();
  const [label, setLabel] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read", "trade"]);
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (scopes.length === 0) {
      setError("Choose at least one scope.");
      return;
    }
    try {
      setCreated(await api.createApiKey(scopes, label.trim()));
      setLabel("");
      await queries.invalidateQueries({ queryKey: ["api-keys"] });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The key could not be created.");
    }
  };
  const revoke = async (keyId: number) => {
    try {
      await api.revokeApiKey(keyId);
      await queries.invalidateQueries({ queryKey: ["api-keys"] });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The key could not be revoked.");
    }
  };
  return (
    <main className="mx-auto flex max-w-4xl flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">API keys</h1>
      <form className="panel flex flex-wrap items-end gap-3 p-3" onSubmit={create} aria-label="Create an API key">
        <div className="w-64">
          <label htmlFor={`${id}-label`} className="text-xs text-muted">Label</label>
          <input id={`${id}-label`} className="input" value={label} maxLength={100} onChange={(e) => setLabel(e.target.value)} />
        </div>
        <fieldset className="flex gap-3">
          <legend className="text-xs text-muted">Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="flex items-center gap-1">
              <input type="checkbox" checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))} />{s}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="btn btn-buy">Create key</button>
        {error && <p role="alert" className="field-error w-full">{error}</p>}
      </form>
      {created && (
        <div role="status" className="panel border-accent p-3 text-xs">
          <p className="mb-1 font-semibold">Key {created.api_key_id} created. Copy the secret now: it is not shown again.</p>
          <code className="break-all" data-testid="new-api-key">{created.api_key}</code>
        </div>
      )}
      <section className="panel" aria-labelledby={`${id}-list`}>
        <h2 id={`${id}-list`} className="panel-title">Your keys</h2>
        <table className="grid-table" aria-label="API keys" data-testid="api-keys">
          <thead><tr><th scope="col">Id</th><th scope="col">Label</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(keys.data ?? []).map((k) => (
              <tr key={k.api_key_id}>
                <td>{k.api_key_id}</td><td>{k.label || "—"}</td><td>{k.scopes.join(", ")}</td><td>{formatDateTime(k.created_ns)}</td>
                <td><button type="button" className="btn py-0 text-xs" aria-label={`Revoke key ${k.api_key_id}`} onClick={() => revoke(k.api_key_id)}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        {keys.data?.length === 0 && <p className="p-3 text-muted">No API keys.</p>}
      </section>
    </main>
  );
}
