import { expect, test } from "@playwright/test";
import {
  cents, deposit, depth, expectAccessible, expectLadderEqualsDepth, freshEmail, login, price, screenshot, signUpByApi, url,
} from "./helpers";


test("sign up, get a deposit, place, amend and cancel a limit order from the form", async ({ page, request }) => {
  const email = freshEmail("trader");
  const password = "trader-password-1";
  await page.goto(url("/signup"));
  await expectAccessible(page, "sign-up");
  await screenshot(page, "signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
  await expect(page).toHaveURL(/\/trade\/BTC-USD$/);

  const me = await login(request, email, password);
  await deposit(request, me.userId, "USD", "100000");
  await expect(page.getByTestId("available-USD")).toHaveText("100,000.000000");

  // a buy well below the best bid rests on the book; the ladder shows the levels that fit
  // its box, so the page is made tall enough to hold the levels between (the demo maker's
  // ladder and what earlier tests left resting)
  await page.setViewportSize({ width: 1440, height: 2400 });
  const book = await depth(request);
  const limit = price(cents(book.bids[0]![0]) - 30000n); // 300.00 below: out of the demo market's reach
  await page.getByLabel(/^Price/).fill(limit);
  await page.getByLabel(/^Quantity/).fill("0.0100");
  await page.getByRole("button", { name: "Place order" }).click();

  const row = page.getByTestId("open-orders").locator("tbody tr").first();
  await expect(row).toContainText(limit.replace(/\B(?=(\d{3})+(?!\d))/, ","));
  const orderId = await row.getAttribute("data-order-id");
  expect(orderId).toBeTruthy();
  await expect(page.locator(`[data-testid="ladder"] tr[data-side="bid"][data-price="${limit}"]`)).toHaveAttribute("data-mine", "true");
  await expect(page.getByTestId("held-USD")).not.toHaveText("0.000000");
  await screenshot(page, "trade-with-order");
  await expectAccessible(page, "trade");

  // amend the price: the order moves on the ladder
  const amended = price(cents(limit) - 100n);
  await page.getByRole("button", { name: `Amend order ${orderId}` }).click();
  await page.getByLabel(/^New price/).fill(amended);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator(`[data-order-id="${orderId}"]`)).toContainText(amended.replace(/\B(?=(\d{3})+(?!\d))/, ","));
  await expect(page.locator(`[data-testid="ladder"] tr[data-price="${amended}"]`)).toHaveAttribute("data-mine", "true");
  await expect(page.locator(`[data-testid="ladder"] tr[data-price="${limit}"][data-mine]`)).toHaveCount(0);

  // cancel: the row leaves from the private stream, without a reload
  await page.getByRole("button", { name: `Cancel order ${orderId}` }).click();
  await expect(page.locator(`[data-order-id="${orderId}"]`)).toHaveCount(0);
  await expect(page.getByText("No open orders.")).toBeVisible();
  await expect(page.locator(`[data-testid="ladder"] tr[data-mine]`)).toHaveCount(0);
  await expect(page.getByTestId("held-USD")).toHaveText("0.000000");
});

test("a second user crosses the order: fill, balances and tape update live", async ({ page, request }) => {
  const seller = await signUpByApi(request, "seller");
  const buyer = await signUpByApi(request, "buyer");
  await deposit(request, seller.userId, "BTC", "1");
  await deposit(request, buyer.userId, "USD", "100000");

  await page.goto(url("/signin"));
  await page.getByLabel("Email").fill(seller.email);
  await page.getByLabel("Password").fill(seller.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("available-BTC")).toHaveText("1.00000000");

  // the seller asks 1.5% above the best ask, out of the demo bots' reach, from the form
  const book = await depth(request);
  const ask = price((cents(book.asks[0]![0]) * 1015n) / 1000n);
  await page.getByRole("button", { name: "Sell", exact: true }).click();
  await page.getByLabel(/^Price/).fill(ask);
  await page.getByLabel(/^Quantity/).fill("0.0500");
  await page.getByRole("button", { name: "Place order" }).click();
  await expect(page.getByTestId("available-BTC")).toHaveText("0.95000000");

  // the buyer takes every ask up to that price: the demo maker's, then the seller's
  const r = await request.post(url("/api/v1/orders"), {
    data: { symbol: "BTC-USD", side: "buy", type: "limit", price: ask, quantity: "1.0000", time_in_force: "ioc" },
    headers: { authorization: `Bearer ${buyer.token}` },
  });
  expect(r.status(), await r.text()).toBe(201);

  await expect(page.getByText("No open orders.")).toBeVisible();
  await expect(page.getByTestId("held-BTC")).toHaveText("0.00000000");
  await expect(page.getByTestId("available-BTC")).toHaveText("0.95000000");
  await expect(page.getByTestId("available-USD")).not.toHaveText("0.000000");
  await expect(page.locator(`[data-testid="tape"] tr[data-side="buy"]`).filter({ hasText: ask.replace(/\B(?=(\d{3})+(?!\d))/, ",") }).first()).toBeVisible();
  await expect(page.getByRole("status").filter({ hasText: /Filled/ }).first()).toBeVisible();

  await page.getByRole("tab", { name: "Fills" }).click();
  const fill = page.getByTestId("fills").locator("tbody tr").first();
  await expect(fill).toContainText(ask);
  await expect(fill).toContainText("Maker");
  await expect(fill).toContainText("USD");
  await page.getByRole("tab", { name: "Order history" }).click();
  await expect(page.getByTestId("order-history").locator("tbody tr").first()).toContainText("filled");
  await screenshot(page, "trade-after-fill");
});

test("the ladder equals GET /api/v1/depth", async ({ page, request }) => {
  await page.goto(url("/trade/BTC-USD"));
  await expect(page.locator('[data-testid="ladder"] tr[data-side="bid"]').first()).toBeVisible();
  await expectLadderEqualsDepth(page, request);
  await expectAccessible(page, "trade-public");
  await screenshot(page, "trade");
});

test("a rejected order shows the server's sentence", async ({ page, request }) => {
  const user = await signUpByApi(request, "poor");
  await deposit(request, user.userId, "USD", "10");
  await page.goto(url("/signin"));
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("available-USD")).toHaveText("10.000000");
  // inline validation stops an order beyond the balance before it is sent
  await page.getByLabel(/^Price/).fill("50000.00");
  await page.getByLabel(/^Quantity/).fill("1.0000");
  await expect(page.getByText(/Insufficient USD/)).toBeVisible();
  await expect(page.getByLabel(/^Quantity/)).toHaveAttribute("aria-invalid", "true");
  // a post-only that would take is refused by the engine: its code's sentence is shown.
  // The ask it would take is its own (the demo maker's asks move each time it re-quotes).
  const seller = await signUpByApi(request, "post-only-seller");
  await deposit(request, seller.userId, "BTC", "1");
  const book = await depth(request);
  const ask = price((cents(book.bids[0]![0]) * 1001n) / 1000n);
  const sell = await request.post(url("/api/v1/orders"), {
    data: { symbol: "BTC-USD", side: "sell", type: "limit", price: ask, quantity: "0.0100" },
    headers: { authorization: `Bearer ${seller.token}` },
  });
  expect(sell.status(), await sell.text()).toBe(201);
  await page.getByLabel(/^Quantity/).fill("0.0001");
  await page.getByLabel(/^Price/).fill(price((cents(ask) * 1002n) / 1000n)); // through that ask, well inside the band
  await page.getByText(/^Advanced/).click();
  await page.getByLabel(/Post-only/).check();
  await page.getByRole("button", { name: "Place order" }).click();
  await expect(page.getByTestId("order-error")).toHaveText("A post-only order would have taken liquidity.");
});

test("% buttons never exceed the balance, fees included", async ({ page, request }) => {
  const user = await signUpByApi(request, "pct");
  await deposit(request, user.userId, "USD", "1234.567891");
  await page.goto(url("/signin"));
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("available-USD")).toHaveText("1,234.567891");
  await page.getByLabel(/^Price/).fill("49999.99");
  await page.getByRole("button", { name: "100% of available balance" }).click();
  const qty = await page.getByLabel(/^Quantity/).inputValue();
  expect(qty).toBe("0.0246"); // 0.0247 * 49,999.99 * 1.0005 > 1,234.567891
  await expect(page.getByText(/Insufficient/)).toHaveCount(0);
  await page.getByRole("button", { name: "Place order" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Order \d+ (new|filled|partially filled)/ })).toBeVisible();
  await expect(page.getByTestId("order-error")).toHaveCount(0);
});

test("a market buy by the amount to spend never spends more", async ({ page, request }) => {
  const user = await signUpByApi(request, "spend");
  await deposit(request, user.userId, "USD", "1000");
  // liquidity of its own: earlier tests may have taken every ask the demo maker had
  const seller = await signUpByApi(request, "spend-seller");
  await deposit(request, seller.userId, "BTC", "1");
  const book = await depth(request);
  const ask = price((cents(book.bids[0]![0]) * 1002n) / 1000n);
  const sell = await request.post(url("/api/v1/orders"), {
    data: { symbol: "BTC-USD", side: "sell", type: "limit", price: ask, quantity: "0.0100" },
    headers: { authorization: `Bearer ${seller.token}` },
  });
  expect(sell.status(), await sell.text()).toBe(201);
  await page.goto(url("/signin"));
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("available-USD")).toHaveText("1,000.000000");
  await page.getByLabel("Order type").selectOption("market");
  await page.getByLabel("By amount (USD)").check();
  await page.getByLabel(/^Spend/).fill("2000");
  await expect(page.getByText("Insufficient USD: 1000.000000 available.")).toBeVisible();
  await page.getByLabel(/^Spend/).fill("100");
  await page.getByRole("button", { name: "Place order" }).click();
  await expect(page.getByRole("status").filter({ hasText: /^Order \d+ (filled|cancelled|partially filled)/ })).toBeVisible();
  // at most 100 USD left the balance, fees included, and bitcoin came in
  await expect(page.getByTestId("available-USD")).toHaveText(/^9\d\d\.\d{6}$/);
  await expect(page.getByTestId("available-BTC")).not.toHaveText("0.00000000");
  await expect(page.getByTestId("held-USD")).toHaveText("0.000000");
});
