import { afterEach, describe, expect, it, vi } from "vitest";
import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter } from "react-router";
import { formatFiat } from "./common";
import { RoomView } from "./TradeRoom";
import { p2p } from "../../api/p2p";
import { NEVER_CANCEL_AFTER_PAYING, type TradeDetail } from "../../lib/p2p";

const BASE: TradeDetail = {
  trade_id: 9, ad_id: 3, ad_side: "sell", maker_id: 1, state: "pending_payment", buyer_id: 2, seller_id: 1, asset: "BTC", fiat: "USD",
  quantity: "0.25000000", price: "50000.00", fiat_amount: "12500.00", fee: null,
  payment_method: { method_id: 4, name: "SEPA", details: "IBAN DE00 1234" },
  pay_by: "2026-12-03T12:15:00Z", appeal_after: null, escalate_at: null, now: "2026-12-03T12:00:00Z",
  my_role: "buyer", allowed_actions: ["paid", "cancel"], dispute: null, created_at: "2026-12-03T12:00:00Z", updated_at: null,
  feedback: [], timeline: [],
};

function room(view: TradeDetail, userId: number) {
  const queries = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
  queries.setQueryData(["assets"], [{ asset: "BTC", decimals: 8 }]);
  queries.setQueryData(["p2p-ad", view.ad_id], { terms: "SEPA only" });
  queries.setQueryData(["p2p-messages", view.trade_id], [
    { seq: 10, message_id: null, trade_id: 9, user_id: null, author: "system", text: "Trade opened", at: "2026-12-03T12:00:00Z" },
    { seq: 11, message_id: 2, trade_id: 9, user_id: 1, author: "seller", text: "Pay to my IBAN please", at: "2026-12-03T12:00:05Z" },
  ]);
  const changed = vi.fn();
  render(<QueryClientProvider client={queries}><MemoryRouter>
    <RoomView view={view} receivedAt={performance.now()} userId={userId} onChanged={changed} />
  </MemoryRouter></QueryClientProvider>);
  return changed;
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("the trade room", () => {
  it("shows the buyer only the allowed buttons; marking paid needs the confirmation and sends the shown state", async () => {
    const spy = vi.spyOn(p2p, "act").mockResolvedValue({ ...BASE, state: "paid" });
    room(BASE, 2);
    expect(screen.getByTestId("fiat-amount")).toHaveTextContent("12,500.00 USD");
    expect(screen.getByTestId("payment-details")).toHaveTextContent("IBAN DE00 1234");
    expect(screen.queryByRole("button", { name: "Release the asset" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Open a dispute" })).toBeNull();
    const paid = screen.getByRole("button", { name: "I have paid" });
    expect(paid).toBeDisabled();
    await userEvent.click(screen.getByLabelText("I sent the exact amount"));
    expect(paid).toBeEnabled();
    await userEvent.click(paid);
    expect(spy).toHaveBeenCalledTimes(1);
    const [id, action, body] = spy.mock.calls[0]!;
    expect([id, action, body.expected_state]).toEqual([9, "paid", "pending_payment"]);
    expect(String(body.idempotency_key)).toMatch(/^paid-/);
    // a cancel before paying has no warning
    expect(screen.getByRole("button", { name: "Cancel the trade" })).toBeEnabled();
    expect(screen.getByText("Pay to my IBAN please")).toBeInTheDocument();
  });

  it("the seller releases only after confirming the money arrived", async () => {
    room({ ...BASE, state: "paid", my_role: "seller", allowed_actions: ["release"], appeal_after: "2026-12-03T12:15:00Z" }, 1);
    expect(screen.queryByRole("button", { name: "Cancel the trade" })).toBeNull();
    expect(screen.queryByRole("button", { name: "I have paid" })).toBeNull();
    const release = screen.getByRole("button", { name: "Release the asset" });
    expect(release).toBeDisabled();
    expect(screen.getByText(/Only release after the money arrived/)).toBeInTheDocument();
    await userEvent.click(screen.getByLabelText("I checked my account: the money arrived"));
    expect(release).toBeEnabled();
  });

  it("warns the buyer never to cancel after paying and sends the confirmation", async () => {
    const spy = vi.spyOn(p2p, "act").mockResolvedValue({ ...BASE, state: "cancelled" });
    room({ ...BASE, state: "paid", allowed_actions: ["cancel", "dispute"] }, 2);
    expect(screen.getByText(NEVER_CANCEL_AFTER_PAYING)).toBeInTheDocument();
    const cancel = screen.getByRole("button", { name: "Cancel the trade" });
    expect(cancel).toBeDisabled();
    await userEvent.click(screen.getByLabelText("I did not pay, or I was refunded"));
    await userEvent.click(cancel);
    expect(spy.mock.calls[0]![2]).toMatchObject({ expected_state: "paid", confirm: true });
    expect(screen.getByRole("button", { name: "Open a dispute" })).toBeInTheDocument();
  });

  it("opens a dispute with a reason and a text", async () => {
    const spy = vi.spyOn(p2p, "dispute").mockResolvedValue({ ...BASE, state: "disputed" });
    room({ ...BASE, state: "paid", allowed_actions: ["dispute"] }, 2);
    await userEvent.click(screen.getByRole("button", { name: "Open a dispute" }));
    await userEvent.click(screen.getByRole("button", { name: "Submit the dispute" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Describe what happened");
    expect(spy).not.toHaveBeenCalled();
    await userEvent.type(screen.getByLabelText("What happened"), "Sent 12,500 USD at 12:03, no release");
    await userEvent.click(screen.getByRole("button", { name: "Submit the dispute" }));
    expect(spy.mock.calls[0]![0]).toBe(9);
    expect(spy.mock.calls[0]![1]).toMatchObject({ expected_state: "paid", reason: "payment_not_received", text: "Sent 12,500 USD at 12:03, no release" });
  });

  it("sends a chat line trimmed and refuses an empty one with a sentence", async () => {
    const spy = vi.spyOn(p2p, "postMessage").mockResolvedValue(
      { seq: 12, message_id: 3, trade_id: 9, user_id: 2, author: "buyer", text: "Paid, reference 42", at: "2026-12-03T12:01:00Z" });
    room(BASE, 2);
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Write a message.");
    expect(spy).not.toHaveBeenCalled();
    await userEvent.type(screen.getByLabelText("Write a message"), "  Paid, reference 42 ");
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    expect(spy).toHaveBeenCalledWith(9, "Paid, reference 42");
    expect(screen.getByLabelText("Write a message")).toHaveValue(""); // cleared once sent
    expect(await screen.findByText("Paid, reference 42")).toBeInTheDocument();
  });

  it("sends feedback with its comment and the thumb pressed", async () => {
    const spy = vi.spyOn(p2p, "feedback").mockResolvedValue(
      { trade_id: 9, from_user_id: 2, to_user_id: 1, positive: false, comment: "slow", at: "2026-12-03T12:10:00Z" });
    room({ ...BASE, state: "completed", allowed_actions: [], pay_by: null }, 2);
    await userEvent.type(screen.getByLabelText("Comment (optional)"), " slow ");
    await userEvent.click(screen.getByRole("button", { name: "Negative" }));
    expect(spy).toHaveBeenCalledWith(9, false, "slow");
    expect(await screen.findByText("Thank you: your feedback was recorded.")).toBeInTheDocument();
  });

  it("counts down from the server's deadline and asks for a refresh at zero", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "performance", "Date"] });
    vi.setSystemTime(new Date("2031-01-01T00:00:00Z")); // the PC's clock is years off: no effect
    const changed = room({ ...BASE, pay_by: "2026-12-03T12:01:00Z" }, 2);
    expect(screen.getByRole("timer")).toHaveTextContent("01:00");
    act(() => { vi.advanceTimersByTime(30_000); });
    expect(screen.getByRole("timer")).toHaveTextContent("00:30");
    expect(changed).not.toHaveBeenCalled();
    act(() => { vi.advanceTimersByTime(31_000); });
    expect(screen.getByRole("timer")).toHaveTextContent("00:00");
    expect(changed).toHaveBeenCalled();
  });

  it("a finished trade shows no action and offers feedback", () => {
    room({ ...BASE, state: "completed", allowed_actions: [], pay_by: null }, 2);
    expect(screen.queryByTestId("trade-actions")).toBeNull();
    expect(screen.queryByRole("timer")).toBeNull();
    expect(screen.getByRole("button", { name: /Positive/ })).toBeInTheDocument();
  });

  it("offers no second feedback", () => {
    room({ ...BASE, state: "completed", allowed_actions: [], pay_by: null,
      feedback: [{ trade_id: 9, from_user_id: 2, to_user_id: 1, positive: true, comment: "", at: "2026-12-03T12:10:00Z" }] }, 2);
    expect(screen.queryByRole("button", { name: /Positive/ })).toBeNull();
  });

  it("shows a proposed resolution awaiting a second admin", () => {
    room({ ...BASE, state: "disputed", allowed_actions: ["release"], my_role: "seller", pay_by: null, dispute: {
      opened_by: 2, opened_at: "2026-12-03T12:20:00Z", reason: "payment_not_received", text: "paid at 12:03",
      proposed_by: 7, proposed_outcome: "release", resolution_note: "bank proof" } }, 1);
    expect(screen.getByTestId("dispute-info")).toHaveTextContent("I paid but the seller does not release");
    expect(screen.getByTestId("pending-resolution")).toHaveTextContent("Admin #7 proposed to release the asset to the buyer");
  });
});

describe("formatFiat", () => {
  it("groups the server's amount without rounding it to a guessed number of decimals", () => {
    expect(formatFiat("1234567.891")).toBe("1,234,567.891");
    expect(formatFiat("10000.00")).toBe("10,000.00");
    expect(formatFiat("12")).toBe("12");
    expect(formatFiat("99999999999999999.99")).toBe("99,999,999,999,999,999.99");
  });
});
