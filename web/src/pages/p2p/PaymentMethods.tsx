// My payment methods: a name ("SEPA") and the details a counterparty needs to pay me,
// shown to them only once a trade with me is open.
import { useId, useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Navigate } from "react-router";
import { p2p } from "../../api/p2p";
import { useSession } from "../../hooks";
import { errorText, P2PNav, useRun } from "./common";

export default function PaymentMethods() {
  const session = useSession();
  if (!session) return <Navigate to="/signin" replace />;
  return <MethodsPage />;
}

function MethodsPage() {
  const id = useId();
  const queries = useQueryClient();
  const run = useRun();
  const methods = useQuery({ queryKey: ["p2p-payment-methods"], queryFn: p2p.paymentMethods });
  const [name, setName] = useState("");
  const [details, setDetails] = useState("");
  const [error, setError] = useState<string | null>(null);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || !details.trim()) { setError("Enter a name and the details a buyer needs to pay you."); return; }
    setError(null);
    try {
      await p2p.addPaymentMethod(name.trim(), details.trim());
      setName("");
      setDetails("");
      await queries.invalidateQueries({ queryKey: ["p2p-payment-methods"] });
    } catch (err) {
      setError(errorText(err, "The payment method could not be saved."));
    }
  };
  return (
    <main className="mx-auto flex max-w-3xl flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Payment methods</h1>
      <P2PNav />
      <form className="panel grid grid-cols-[200px_1fr_auto] items-end gap-3 p-3" onSubmit={add} aria-label="Add a payment method" noValidate>
        <div>
          <label htmlFor={`${id}-name`} className="text-xs text-muted">Name</label>
          <input id={`${id}-name`} className="input" maxLength={40} placeholder="SEPA" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <label htmlFor={`${id}-details`} className="text-xs text-muted">Details (shown to your counterparty in an open trade)</label>
          <input id={`${id}-details`} className="input" maxLength={500} placeholder="IBAN, account holder" value={details} onChange={(e) => setDetails(e.target.value)} />
        </div>
        <button type="submit" className="btn btn-buy">Add method</button>
        {error && <p role="alert" className="field-error col-span-3">{error}</p>}
      </form>
      <section className="panel" aria-labelledby={`${id}-list`}>
        <h2 id={`${id}-list`} className="panel-title">Your payment methods</h2>
        <table className="grid-table" aria-label="Payment methods" data-testid="payment-methods">
          <thead><tr><th scope="col">Name</th><th scope="col">Details</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(methods.data ?? []).map((m) => (
              <tr key={m.method_id}>
                <td>{m.name}</td><td className="whitespace-normal">{m.details}</td>
                <td><button type="button" className="btn py-0 text-xs" aria-label={`Remove payment method ${m.name}`}
                  onClick={() => run(`Removed ${m.name}`, () => p2p.removePaymentMethod(m.method_id), ["p2p-payment-methods"])}>Remove</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        {methods.error && <p role="alert" className="p-3 text-down">{methods.error.message}</p>}
        {methods.data?.length === 0 && <p className="p-3 text-muted">No payment methods yet.</p>}
      </section>
    </main>
  );
}
