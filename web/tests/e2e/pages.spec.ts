import { expect, test } from "@playwright/test";
import { ADMIN } from "../server";
import { cents, deposit, depth, expectAccessible, expectAligned, price, screenshot, signInUi, signUpByApi, url } from "./helpers";

test("sign-in page, and signing out", async ({ page, request }) => {
  await page.goto(url("/signin"));
  await expectAccessible(page, "sign-in");
  await screenshot(page, "signin");
  await page.getByLabel("Email").fill("nobody@e2e.matchbook");
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
  const user = await signUpByApi(request, "signout");
  await signInUi(page, user.email, user.password);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("banner").getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(page.getByText("Sign in to see your orders.")).toBeVisible();
});

test("wallet: balances, a deposit address, a transfer to it, a withdrawal and the ledger", async ({ page, request }) => {
  const sender = await signUpByApi(request, "sender");
  const receiver = await signUpByApi(request, "receiver");
  await deposit(request, sender.userId, "USD", "500");
  const created = await request.post(url("/api/v1/wallets/USD/address"), { headers: { authorization: `Bearer ${receiver.token}` } });
  const { address } = (await created.json()) as { address: string };

  await signInUi(page, sender.email, sender.password);
  await page.getByRole("link", { name: "Wallet" }).click();
  const usd = page.getByTestId("wallet-balances").locator('tr[data-asset="USD"]');
  await expect(usd).toContainText("500.000000");
  await usd.getByRole("button", { name: "Create USD address" }).click();
  await expect(page.getByTestId("address-USD")).not.toBeEmpty();

  const transfer = page.getByRole("form", { name: "Transfer to a wallet address" });
  await transfer.getByLabel(/^Amount/).fill("120.5");
  await transfer.getByLabel("Recipient wallet address").fill(address);
  await transfer.getByRole("button", { name: "Send transfer" }).click();
  await expect(transfer.getByRole("status")).toContainText("120.500000 USD sent");
  await expect(usd).toContainText("379.500000");

  const withdraw = page.getByRole("form", { name: "Withdraw" });
  await withdraw.getByLabel(/^Amount/).fill("1000");
  await withdraw.getByRole("button", { name: "Request withdrawal" }).click();
  await expect(withdraw.getByRole("alert")).toContainText("Insufficient USD");
  await withdraw.getByLabel(/^Amount/).fill("79.5");
  await withdraw.getByLabel(/^Destination/).fill("bank-account-1");
  await withdraw.getByRole("button", { name: "Request withdrawal" }).click();
  await expect(withdraw.getByRole("status")).toContainText("pending approval");
  await expect(usd).toContainText("300.000000");
  await expect(page.getByTestId("ledger").getByRole("row").nth(1)).toBeVisible();
  await expectAccessible(page, "wallet");
  await screenshot(page, "wallet");
});

test("API keys: create with scopes, see the secret once, revoke", async ({ page, request }) => {
  const user = await signUpByApi(request, "keys");
  await signInUi(page, user.email, user.password);
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Label").fill("my bot");
  await page.getByLabel("withdraw").check();
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByTestId("new-api-key")).toHaveText(/^mbk_/);
  const row = page.getByTestId("api-keys").locator("tbody tr").filter({ hasText: "my bot" });
  await expect(row).toContainText("read, trade, withdraw");
  await expectAccessible(page, "api-keys");
  await screenshot(page, "api-keys");
  await row.getByRole("button", { name: /Revoke key/ }).click();
  await expect(page.getByTestId("api-keys").locator("tbody tr")).toHaveCount(0);
});

test("admin dashboard: health with live charts and the projector, users, halts, withdrawals, audit, all orders and trades", async ({ page, request }) => {
  test.slow(); // every tab of the dashboard, one after the other
  const customer = await signUpByApi(request, "customer");
  await deposit(request, customer.userId, "BTC", "2");
  await request.post(url("/api/v1/withdrawals"), { data: { asset: "BTC", amount: "0.5", destination: "cold" }, headers: { authorization: `Bearer ${customer.token}` } });

  await signInUi(page, ADMIN.email, ADMIN.password);
  await page.getByRole("link", { name: "Admin" }).click();
  await expect(page.getByTestId("health-cards")).toContainText("Last sequence");
  await expect(page.locator(".recharts-line path.recharts-curve").first()).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId("projector-health")).toContainText("Dead letters");
  await expect(page.getByTestId("dead-letters")).toHaveText("0");
  await expectAccessible(page, "admin-health");
  await screenshot(page, "admin-health");

  await page.getByRole("tab", { name: "Users" }).click();
  await page.getByLabel(/Search users/).fill(customer.email);
  const row = page.getByTestId("admin-users").locator(`tr[data-user-id="${customer.userId}"]`);
  await row.getByRole("button", { name: "Suspend" }).click();
  await expect(row).toContainText("suspended");
  await row.getByRole("button", { name: "Reinstate" }).click();
  await expect(row).toContainText("active");
  await expectAccessible(page, "admin-users");
  await screenshot(page, "admin-users");

  await page.getByRole("tab", { name: "Withdrawals" }).click();
  const pending = page.getByTestId("admin-withdrawals").locator("tbody tr").filter({ hasText: String(customer.userId) });
  await pending.getByRole("button", { name: "Approve" }).click();
  await expect(pending).toHaveCount(0);

  await page.getByRole("tab", { name: "Halts" }).click();
  await page.getByRole("button", { name: "Halt SOL-USD" }).click();
  await expect(page.getByTestId("admin-markets").locator("tr").filter({ hasText: "SOL-USD" })).toContainText("halted");
  await page.getByRole("button", { name: "Resume SOL-USD" }).click();
  await expect(page.getByTestId("admin-markets").locator("tr").filter({ hasText: "SOL-USD" })).toContainText("trading");

  await page.getByRole("tab", { name: "Balances" }).click();
  await page.getByLabel("User id").fill(String(customer.userId));
  await page.getByLabel("Asset").selectOption("BTC");
  await page.getByLabel("Amount").fill("-0.25");
  await page.getByLabel(/Reason/).fill("correction");
  await page.getByRole("button", { name: "Adjust balance" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Adjusted" })).toBeVisible();

  await page.getByRole("tab", { name: "Audit log" }).click();
  await page.getByLabel("User id").fill(String(customer.userId));
  await expect(page.getByTestId("admin-audit").locator("tbody tr").first()).toBeVisible();
  await expectAccessible(page, "admin-audit");
  await screenshot(page, "admin-audit");

  // every user's orders and trades, filtered by user, status and market
  const trader = await signUpByApi(request, "admin-view");
  await deposit(request, trader.userId, "USD", "100000");
  const auth = { authorization: `Bearer ${trader.token}` };
  const best = await depth(request);
  const resting = await request.post(url("/api/v1/orders"), { headers: auth, data: {
    symbol: "BTC-USD", side: "buy", type: "limit", quantity: "0.0100", price: price((cents(best.bids[0]![0]) * 98n) / 100n) } });
  expect(resting.status(), await resting.text()).toBe(201);
  const taken = await request.post(url("/api/v1/orders"), { headers: auth, data: { symbol: "BTC-USD", side: "buy", type: "market", quantity: "0.0010" } });
  expect(taken.status(), await taken.text()).toBe(201);
  const restingId = ((await resting.json()) as { order_id: string }).order_id;
  const takenId = ((await taken.json()) as { order_id: string }).order_id;

  await page.getByRole("tab", { name: "Orders" }).click();
  await page.getByLabel("User id").fill(String(trader.userId));
  const orders = page.getByTestId("admin-orders").locator("tbody tr");
  await expect(orders).toHaveCount(1); // open ones by default
  await expect(orders.first()).toHaveAttribute("data-order-id", restingId);
  await page.getByLabel("Status").selectOption("");
  await expect(orders).toHaveCount(2);
  await expect(orders.first()).toHaveAttribute("data-order-id", takenId);
  await expect(orders.first()).toContainText("filled");
  await page.getByLabel("Status").selectOption("cancelled");
  await expect(page.getByText("No order matches.")).toBeVisible();
  await page.getByLabel("User id").fill("x");
  await expect(page.getByText("A user id is a whole number.")).toBeVisible();
  await page.getByLabel("User id").fill("");
  await page.getByLabel("Status").selectOption("open");
  await expect(orders.first()).toBeVisible();
  await expectAligned([page.getByLabel("User id"), page.getByLabel("Market"), page.getByLabel("Status")]);
  await expectAccessible(page, "admin-orders");
  await screenshot(page, "admin-orders");

  await page.getByRole("tab", { name: "Trades" }).click();
  await page.getByLabel("User id").fill(String(trader.userId));
  await page.getByLabel("Market").selectOption("BTC-USD");
  const trades = page.getByTestId("admin-trades").locator("tbody tr");
  await expect(trades.first()).toContainText(`user ${trader.userId} (${takenId})`);
  await page.getByLabel("Market").selectOption("ETH-USD");
  await expect(page.getByText("No trade matches.")).toBeVisible();
  await page.getByLabel("User id").fill("");
  await page.getByLabel("Market").selectOption("");
  await expect(trades.first()).toBeVisible();
  await expectAligned([page.getByLabel("User id"), page.getByLabel("Market")]);
  await expectAccessible(page, "admin-trades");
  await screenshot(page, "admin-trades");
  const balances = await request.get(url("/api/v1/balances"), { headers: { authorization: `Bearer ${customer.token}` } });
  const btc = ((await balances.json()) as { asset: string; available: string }[]).find((b) => b.asset === "BTC");
  expect(btc?.available).toBe("1.25000000");
});

test("performance dashboard: a run shows its figures, or a clear error without a simulator", async ({ page, request }) => {
  const probe = await request.post(url("/api/simulation"), { data: { num_orders: 1000 } });
  await page.goto(url("/performance"));
  await page.getByLabel("Number of orders").fill("1000");
  await page.getByRole("button", { name: "Run simulation" }).click();
  if (probe.status() === 404) {
    await expect(page.getByTestId("simulation-error")).toContainText("POST /api/simulation answered 404");
  } else {
    await expect(page.getByTestId("simulation-kpis")).toContainText("Throughput", { timeout: 60_000 });
    await expect(page.getByTestId("simulation-runs").locator("tbody tr")).toHaveCount(1);
  }
  await expectAccessible(page, "performance");
  await screenshot(page, "performance");
});

test("performance dashboard: KPIs, log-scale histogram, throughput and the change against the previous run", async ({ page }) => {
  // the simulator's answer, played by the test (its contract: orders, trades, throughput,
  // p50/p99/p99.9, a latency histogram, throughput over time)
  let run = 0;
  await page.route("**/api/simulation", async (route) => {
    const body = route.request().postDataJSON() as { num_orders: number };
    run++;
    await route.fulfill({ json: {
      orders: body.num_orders, trades: 400 * run, throughput: 50000 * run,
      latency_us: { p50: 12, p99: 80 / run, p99_9: 300 },
      latency_histogram: [{ le_us: 10, count: 4000 }, { le_us: 100, count: 5900 }, { le_us: 1000, count: 90 }, { le_us: 10000, count: 10 }],
      throughput_series: [{ t: 0, value: 48000 }, { t: 1, value: 52000 }, { t: 2, value: 50000 }],
    } });
  });
  await page.goto(url("/performance"));
  await page.evaluate(() => localStorage.removeItem("matchbook.simulation-runs"));
  await page.reload();
  await page.getByLabel("Number of orders").fill("10000");
  await page.getByRole("button", { name: "Run simulation" }).click();
  await expect(page.getByTestId("simulation-kpis")).toContainText("50,000 orders/s");
  await page.getByRole("button", { name: "Run simulation" }).click();
  const kpis = page.getByTestId("simulation-kpis");
  await expect(kpis).toContainText("100,000 orders/s");
  await expect(kpis).toContainText("12.0 µs");
  await expect(kpis).toContainText("40.0 µs");
  await expect(page.locator(".recharts-bar-rectangle")).toHaveCount(4);
  const latest = page.getByTestId("simulation-runs").locator("tbody tr").first();
  await expect(latest).toContainText("+100.0%");
  await expect(latest).toContainText("-50.0%");
  await expectAccessible(page, "performance-runs");
  await screenshot(page, "performance-runs");
});
