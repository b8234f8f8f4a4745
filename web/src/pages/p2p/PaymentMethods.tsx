// My payment methods: a name ("SEPA") and the details a counterparty needs to pay me,
// shown to them only once a trade with me is open.
import { useId, useState } from "react";
import { useForm } from "react-hook-form";
import { zodResolver } from "@hookform/resolvers/zod";
import { paymentMethodSchema, type PaymentMethodValues } from "../../lib/p2pForms";
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
  const [error, setError] = useState<string | null>(null);
  const { register, handleSubmit, reset, formState: { errors, isSubmitting } } = useForm<PaymentMethodValues>({
    resolver: zodResolver(paymentMethodSchema), defaultValues: { name: "", details: "" },
  });
  const add = async ({ name, details }: PaymentMethodValues) => {
    setError(null);
    try {
      await p2p.addPaymentMethod(name, details);
      reset({ name: "", details: "" });
      await queries.invalidateQueries({ queryKey: ["p2p-payment-methods"] });
    } catch (err) {
      setError(errorText(err, "The payment method could not be saved."));
    }
  };
  return (
    <main className="mx-auto flex max-w-3xl flex-col gap-3 p-3">
      <h1 className="text-lg font-semibold">Payment methods</h1>
      <P2PNav />
      <form className="panel grid grid-cols-[200px_1fr_auto] items-start gap-3 p-3" onSubmit={handleSubmit(add)} aria-label="Add a payment method" noValidate>
        <div>
          <label htmlFor={`${id}-name`} className="text-xs text-muted">Name</label>
          <input id={`${id}-name`} className="input" maxLength={40} placeholder="SEPA" aria-invalid={errors.name ? true : undefined}
            aria-describedby={errors.name ? `${id}-name-error` : undefined} {...register("name")} />
          {errors.name && <p id={`${id}-name-error`} className="field-error">{errors.name.message}</p>}
        </div>
        <div>
          <label htmlFor={`${id}-details`} className="text-xs text-muted">Details (shown to your counterparty in an open trade)</label>
          <input id={`${id}-details`} className="input" maxLength={500} placeholder="IBAN, account holder" aria-invalid={errors.details ? true : undefined}
            aria-describedby={errors.details ? `${id}-details-error` : undefined} {...register("details")} />
          {errors.details && <p id={`${id}-details-error`} className="field-error">{errors.details.message}</p>}
        </div>
        <button type="submit" className="btn btn-buy" disabled={isSubmitting}>Add method</button>
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
