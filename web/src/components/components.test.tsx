import { describe, expect, it, beforeEach, vi } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { MemoryRouter } from "react-router";
import type { ReactNode } from "react";
import { Ladder, barWidth } from "./Ladder";
import { OrderForm } from "./OrderForm";
import { Tape } from "./Tape";
import { api } from "../api/client";
import { EMPTY_VIEW, useMarket } from "../stores/market";
import { useTicket } from "../stores/ticket";
import { useAuth } from "../stores/auth";
import { EMPTY_DRAFT } from "../lib/orderForm";
import type { SymbolInfo } from "../lib/market";
import type { OrderView } from "../lib/feed";

const BTC: SymbolInfo = {
  symbol: "BTC-USD", base: "BTC", quote: "USD", tick_size: "0.01", lot_size: "0.0001", min_quantity: "0.0001",
  max_quantity: "1000.0000", min_notional: "1.000000", price_band_bps: 1000, market_protection_bps: 500,
  maker_fee: "0.0002", taker_fee: "0.0005", halted: false,
};

function wrap(node: ReactNode) {
  const queries = new QueryClient();
  queries.setQueryData(["assets"], [{ asset: "BTC", decimals: 8 }, { asset: "USD", decimals: 6 }]);
  queries.setQueryData(["symbols"], [BTC]);
  return render(<QueryClientProvider client={queries}><MemoryRouter>{node}</MemoryRouter></QueryClientProvider>);
}

const mine: OrderView = {
  order_id: "7", client_order_id: null, symbol: "BTC-USD", side: "buy", type: "limit", price: "99.00", quantity: "1.0000",
  filled_quantity: "0.0000", remaining_quantity: "1.0000", status: "new", time_in_force: "gtc", post_only: false,
  stop_price: null, display_quantity: null, expire_time_ns: null,
};

beforeEach(() => {
  useTicket.setState({ draft: EMPTY_DRAFT });
  useMarket.setState({
    view: {
      ...EMPTY_VIEW, symbol: "BTC-USD", synced: true, updateId: 5, status: "live",
      bids: [["100.00", "0.5000"], ["99.00", "1.2500"]], asks: [["101.00", "0.1000"], ["102.50", "2.0000"]],
      openOrders: [mine], balances: [
        { asset: "BTC", available: "0.12345678", held: "0", total: "0.12345678", address: null },
        { asset: "USD", available: "50025.000000", held: "0", total: "50025.000000", address: null },
      ],
    },
  });
  useAuth.setState({ session: { accessToken: "t", refreshToken: "r", expiresAtMs: Date.now() + 60_000, userId: 1, role: "user", email: "a@b.c" } });
});

describe("Ladder", () => {
  it("is a table with asks above bids, the spread between, and own orders marked", () => {
    wrap(<Ladder symbol={BTC} />);
    const table = screen.getByRole("table", { name: "BTC-USD order book" });
    const rows = within(table).getAllByRole("row").filter((r) => r.getAttribute("data-price"));
    expect(rows.map((r) => r.getAttribute("data-price"))).toEqual(["102.50", "101.00", "100.00", "99.00"]);
    expect(screen.getByTestId("spread-row")).toHaveTextContent("1.00 (0.995%)");
    expect(screen.getByRole("button", { name: "Bid 99.00, your order: use this price" })).toBeInTheDocument();
    expect(rows[3]).toHaveAttribute("data-mine", "true");
    expect(within(rows[3]!).getByText("1.7500")).toBeInTheDocument(); // cumulative, exact
  });

  it("sets the order form's price when a price is clicked", async () => {
    wrap(<Ladder symbol={BTC} />);
    await userEvent.click(screen.getByRole("button", { name: "Ask 101.00: use this price" }));
    expect(useTicket.getState().draft.price).toBe("101.00");
  });
});

describe("barWidth", () => {
  it("rounds a bar to whole percent within 0..100", () => {
    expect(barWidth(0.1234)).toBe("12%");
    expect(barWidth(0.126)).toBe("13%");
    expect(barWidth(1)).toBe("100%");
    expect(barWidth(1.2)).toBe("100%");
    expect(barWidth(-0.1)).toBe("0%");
  });
});

describe("OrderForm", () => {
  it("labels every control and names its buttons", () => {
    wrap(<OrderForm symbol={BTC} />);
    for (const label of ["Order type", "Price (USD)", "Quantity (BTC)", "Time in force", "Self-trade prevention", "Client order id (optional)"])
      expect(screen.getByLabelText(label)).toBeInTheDocument();
    for (const name of ["Buy", "Sell", "Place order", "100% of available balance"])
      expect(screen.getByRole("button", { name })).toBeInTheDocument();
  });

  it("fills 100% of the balance, fee included, rounded down to the lot", async () => {
    wrap(<OrderForm symbol={BTC} />);
    await userEvent.type(screen.getByLabelText("Price (USD)"), "50000");
    await userEvent.click(screen.getByRole("button", { name: "100% of available balance" }));
    expect(screen.getByLabelText("Quantity (BTC)")).toHaveValue("1.0000");
    await userEvent.click(screen.getByRole("button", { name: "Sell" }));
    await userEvent.click(screen.getByRole("button", { name: "50% of available balance" }));
    expect(screen.getByLabelText("Quantity (BTC)")).toHaveValue("0.0617");
  });

  it("sizes a market buy by the amount to spend: the % buttons fill it from the quote balance", async () => {
    wrap(<OrderForm symbol={BTC} />);
    await userEvent.selectOptions(screen.getByLabelText("Order type"), "market");
    await userEvent.click(screen.getByLabelText("By amount (USD)"));
    expect(screen.queryByLabelText("Quantity (BTC)")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "25% of available balance" }));
    expect(screen.getByLabelText("Spend (USD, fees included)")).toHaveValue("12506.250000");
    await userEvent.clear(screen.getByLabelText("Spend (USD, fees included)"));
    await userEvent.type(screen.getByLabelText("Spend (USD, fees included)"), "60000");
    expect(await screen.findByText("Insufficient USD: 50025.000000 available.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Sell" })); // a sell is sized by quantity
    expect(screen.getByLabelText("Quantity (BTC)")).toBeInTheDocument();
  });

  it("shows inline errors on the tick and the balance, and sends nothing", async () => {
    wrap(<OrderForm symbol={BTC} />);
    await userEvent.type(screen.getByLabelText("Price (USD)"), "50000.005");
    await userEvent.type(screen.getByLabelText("Quantity (BTC)"), "2");
    expect(screen.getByText("The price must be a multiple of the tick 0.01.")).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText("Price (USD)"));
    await userEvent.type(screen.getByLabelText("Price (USD)"), "50000");
    expect(screen.getByText(/Insufficient USD/)).toBeInTheDocument();
    expect(screen.getByLabelText("Quantity (BTC)")).toHaveAttribute("aria-invalid", "true");
    // placing it sends nothing: no request leaves the form, the error stays on the field
    const sent = vi.spyOn(api, "placeOrder");
    await userEvent.click(screen.getByRole("button", { name: "Place order" }));
    expect(sent).not.toHaveBeenCalled();
    expect(screen.getByText(/Insufficient USD/)).toBeInTheDocument();
    sent.mockRestore();
  });
});

describe("Tape", () => {
  it("colours trades by the aggressor and never shows exponent notation", () => {
    useMarket.setState({ view: { ...useMarket.getState().view, trades: [
      { trade_id: "2", price: "100.00", quantity: "0.0000001", side: "sell", timestamp_ns: 1_700_000_000_000_000_000 },
      { trade_id: "1", price: "100.01", quantity: "0.0001", side: "buy", timestamp_ns: 1_700_000_000_000_000_000 },
    ] } });
    // the tape is virtualised: it renders the rows its box (300 px here) shows
    const height = vi.spyOn(Element.prototype, "clientHeight", "get").mockReturnValue(300);
    wrap(<Tape symbol={BTC} />);
    height.mockRestore();
    const rows = within(screen.getByRole("table", { name: "BTC-USD recent trades" })).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveAttribute("data-side", "sell");
    expect(rows[0]).toHaveTextContent("0.0000");
    expect(document.body.textContent).not.toMatch(/\de-\d/);
  });

  it("renders only the rows in view of a long tape", () => {
    const trades = Array.from({ length: 80 }, (_, i) => ({
      trade_id: String(80 - i), price: "100.00", quantity: "0.0001", side: "buy" as const, timestamp_ns: 1_700_000_000_000_000_000,
    }));
    useMarket.setState({ view: { ...useMarket.getState().view, trades } });
    const height = vi.spyOn(Element.prototype, "clientHeight", "get").mockReturnValue(210); // 10 rows
    wrap(<Tape symbol={BTC} />);
    height.mockRestore();
    const rows = within(screen.getByRole("table", { name: "BTC-USD recent trades" })).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveAttribute("data-trade-id", "80"); // the newest first
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect(rows.length).toBeLessThan(20); // not 80
  });
});
