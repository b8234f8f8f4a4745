// P2P escrow desk end to end, two (or three) browsers against a real server: a seller
// posts a sell ad, a buyer takes it, pays, the seller releases, balances move; a dispute
// resolved by two admins (the amount is above the second-approval threshold).
import { expect, test, type APIRequestContext, type Browser, type BrowserContext, type Locator, type Page } from "@playwright/test";
import { ADMIN, ADMIN2 } from "../server";
import { deposit, expectAccessible, screenshot, signInUi, signUpByApi, url, type Account } from "./helpers";

async function browserAs(browser: Browser, account: { email: string; password: string }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await signInUi(page, account.email, account.password);
  return { context, page };
}

async function api<T>(request: APIRequestContext, who: Account, method: "GET" | "POST", path: string, data?: unknown): Promise<T> {
  const r = method === "GET"
    ? await request.get(url(path), { headers: { authorization: `Bearer ${who.token}` } })
    : await request.post(url(path), { data: data ?? {}, headers: { authorization: `Bearer ${who.token}` } });
  expect(r.ok(), `${method} ${path}: ${r.status()} ${await r.text()}`).toBe(true);
  return (await r.json()) as T;
}

const available = async (request: APIRequestContext, who: Account, asset: string): Promise<string> => {
  const balances = await api<{ asset: string; available: string }[]>(request, who, "GET", "/api/v1/balances");
  return balances.find((b) => b.asset === asset)?.available ?? "0";
};

test("a full P2P trade between two browsers: post, take, pay, release, balances move", async ({ browser, request }) => {
  test.setTimeout(240_000);
  const sellerAccount = await signUpByApi(request, "p2p-seller");
  const buyerAccount = await signUpByApi(request, "p2p-buyer");
  await deposit(request, sellerAccount.userId, "BTC", "1");
  const buyerBtcBefore = await available(request, buyerAccount, "BTC");

  // the seller: a payment method, then a sell ad through the form
  const seller = await browserAs(browser, sellerAccount);
  await seller.page.getByRole("link", { name: "P2P" }).click();
  await seller.page.getByRole("navigation", { name: "P2P" }).getByRole("link", { name: "Payment methods" }).click();
  await seller.page.getByLabel("Name").fill("SEPA");
  await seller.page.getByLabel(/^Details/).fill("IBAN DE89 3704 0044 0532 0130 00, Seller Name");
  await seller.page.getByRole("button", { name: "Add method" }).click();
  await expect(seller.page.getByTestId("payment-methods")).toContainText("IBAN DE89");
  await expectAccessible(seller.page, "p2p-payment-methods");
  await screenshot(seller.page, "p2p-payment-methods");

  await seller.page.getByRole("navigation", { name: "P2P" }).getByRole("link", { name: "Post an ad" }).click();
  const form = seller.page.getByRole("form", { name: "Post an ad" });
  await form.getByLabel(/^Price \(USD per BTC\)/).fill("50000");
  await form.getByLabel(/^Total quantity/).fill("0.5");
  await form.getByLabel("Minimum per trade").fill("0.01");
  await form.getByLabel("Maximum per trade").fill("0.5");
  await form.getByLabel("Terms").fill("SEPA instant only, name must match.");
  await form.getByRole("button", { name: "Post the ad" }).click();
  await expect(form.getByText("Choose at least one payment method.")).toBeVisible(); // checked before sending
  await form.getByLabel("SEPA").check();
  await expectAccessible(seller.page, "p2p-post-ad");
  await screenshot(seller.page, "p2p-post-ad");
  await form.getByRole("button", { name: "Post the ad" }).click();
  await expect(seller.page).toHaveURL(/\/p2p\/mine/);
  const myAd = seller.page.getByTestId("my-ads").locator("tbody tr").first();
  await expect(myAd).toHaveAttribute("data-state", "open");
  await expect(myAd).toContainText("0.50000000 / 0.50000000");
  const adId = Number(await myAd.getAttribute("data-ad-id"));
  expect(await available(request, sellerAccount, "BTC")).toBe("0.50000000"); // the ad's escrow

  // the buyer: the board, the ad, take 0.2 BTC
  const buyer = await browserAs(browser, buyerAccount);
  await buyer.page.goto(url("/p2p?side=sell&asset=BTC&fiat=USD"));
  const row = buyer.page.locator(`[data-testid="p2p-board"] tr[data-ad-id="${adId}"]`);
  await expect(row).toContainText("50,000.00");
  await expect(row).toContainText("SEPA");
  await expect(row.getByTestId("maker-stats")).toHaveText("New trader"); // no finished trade yet
  await expectAccessible(buyer.page, "p2p-board");
  await screenshot(buyer.page, "p2p-board");
  await row.getByRole("button", { name: `Buy BTC from ad ${adId}` }).click();
  const take = buyer.page.getByRole("form", { name: `Take ad ${adId}` });
  await take.getByLabel("Quantity (BTC)").fill("0.7");
  await take.getByRole("button", { name: "Open the trade and pay" }).click();
  await expect(take.getByRole("alert")).toHaveText("Take between 0.01 and 0.5 BTC.");
  await take.getByLabel("Quantity (BTC)").fill("0.2");
  await expect(take.getByTestId("fiat-preview")).toHaveText("10,000.00 USD");
  await take.getByRole("button", { name: "Open the trade and pay" }).click();
  await expect(buyer.page).toHaveURL(/\/p2p\/trades\/\d+$/);
  const tradeId = Number(buyer.page.url().split("/").pop());
  const room = buyer.page.getByTestId("trade-room");
  await expect(room).toHaveAttribute("data-state", "pending_payment");
  await expect(buyer.page.getByTestId("fiat-amount")).toHaveText("10,000.00 USD");
  await expect(buyer.page.getByTestId("payment-details")).toContainText("IBAN DE89");
  await expect(buyer.page.getByRole("timer")).toHaveText(/^1[45]:\d\d$/);  // a 15 min window, from the server's clock
  await expect(buyer.page.getByRole("button", { name: "Release the asset" })).toHaveCount(0);

  // the seller sees the trade; no button to cancel or release before payment; chat both ways
  await seller.page.goto(url(`/p2p/trades/${tradeId}`));
  await expect(seller.page.getByTestId("trade-room")).toHaveAttribute("data-state", "pending_payment");
  await expect(seller.page.getByTestId("trade-actions")).toHaveCount(0);
  await seller.page.getByLabel("Write a message").fill("Hello, please pay with the reference P2P-" + tradeId);
  await seller.page.getByRole("button", { name: "Send" }).click();
  await expect(buyer.page.getByTestId("chat")).toContainText("please pay with the reference", { timeout: 15_000 });
  await buyer.page.getByLabel("Write a message").fill("Sending now");
  await buyer.page.getByRole("button", { name: "Send" }).click();
  await expect(seller.page.getByTestId("chat")).toContainText("Sending now", { timeout: 15_000 });
  await expectAccessible(buyer.page, "p2p-trade-room");
  await screenshot(buyer.page, "p2p-trade-room-buyer");

  // the buyer marks paid (behind a confirmation)
  const paid = buyer.page.getByRole("button", { name: "I have paid" });
  await expect(paid).toBeDisabled();
  await buyer.page.getByLabel("I sent the exact amount").check();
  await paid.click();
  await expect(room).toHaveAttribute("data-state", "paid");
  await expect(buyer.page.getByRole("button", { name: "I have paid" })).toHaveCount(0);
  await expect(buyer.page.getByText("Never cancel after paying", { exact: false })).toBeVisible();

  // the seller: release only after confirming the money arrived
  const release = seller.page.getByRole("button", { name: "Release the asset" });
  await expect(release).toBeVisible({ timeout: 15_000 });
  await expect(seller.page.getByText(/Only release after the money arrived/)).toBeVisible();
  await expect(release).toBeDisabled();
  await screenshot(seller.page, "p2p-trade-room-seller-paid");
  await seller.page.getByLabel("I checked my account: the money arrived").check();
  await release.click();
  await expect(seller.page.getByTestId("trade-room")).toHaveAttribute("data-state", "completed");
  await expect(room).toHaveAttribute("data-state", "completed", { timeout: 15_000 });

  // balances: the buyer got 0.2 BTC less the 0.1% fee; the seller's ad keeps 0.3 in escrow
  const buyerBtc = await available(request, buyerAccount, "BTC");
  expect(buyerBtcBefore).toBe("0.00000000");
  expect(buyerBtc).toBe("0.19980000");
  expect(await available(request, sellerAccount, "BTC")).toBe("0.50000000");
  await seller.page.goto(url("/p2p/mine"));
  await expect(seller.page.locator(`[data-testid="my-ads"] tr[data-ad-id="${adId}"]`)).toContainText("0.30000000 / 0.50000000");
  await expect(seller.page.locator(`[data-testid="my-trades"] tr[data-trade-id="${tradeId}"]`)).toHaveAttribute("data-state", "completed");
  await expectAccessible(seller.page, "p2p-mine");
  await screenshot(seller.page, "p2p-mine");

  // feedback once, then the maker's stats count the trade
  await buyer.page.getByRole("button", { name: /Positive/ }).click();
  await expect(buyer.page.getByText("Thank you: your feedback was recorded.")).toBeVisible();
  await screenshot(buyer.page, "p2p-trade-room-completed");
  const stats = await api<{ completed_trades: number; positive_feedback: number }>(request, buyerAccount, "GET", `/api/v1/p2p/users/${sellerAccount.userId}/stats`);
  expect(stats.completed_trades).toBe(1);
  expect(stats.positive_feedback).toBe(1);

  // the ad: pause, resume, cancel (its remaining escrow goes back)
  const adRow = seller.page.locator(`[data-testid="my-ads"] tr[data-ad-id="${adId}"]`);
  await adRow.getByRole("button", { name: `Pause ad ${adId}` }).click();
  await expect(adRow).toHaveAttribute("data-state", "paused");
  await adRow.getByRole("button", { name: `Resume ad ${adId}` }).click();
  await expect(adRow).toHaveAttribute("data-state", "open");
  await adRow.getByRole("button", { name: `Cancel ad ${adId}` }).click();
  await expect(adRow).toHaveAttribute("data-state", "cancelled");
  expect(await available(request, sellerAccount, "BTC")).toBe("0.80000000");

  // the inbox: the buyer was told about the trade; the badge counts the unread
  await buyer.page.goto(url("/notifications"));
  await expect(buyer.page.getByTestId("notifications").locator("li").first()).toBeVisible();
  await expect(buyer.page.getByTestId("unread-count")).toHaveText(/^\d+$/);
  await expectAccessible(buyer.page, "p2p-inbox");
  await screenshot(buyer.page, "p2p-inbox");
  await buyer.page.getByRole("button", { name: "Mark all read" }).click();
  await expect(buyer.page.getByTestId("unread-count")).toHaveCount(0);

  await seller.context.close();
  await buyer.context.close();
});

test("a dispute resolved by two admins (above the second-approval amount)", async ({ browser, request }) => {
  test.setTimeout(240_000);
  const sellerAccount = await signUpByApi(request, "p2p-dseller");
  const buyerAccount = await signUpByApi(request, "p2p-dbuyer");
  await deposit(request, sellerAccount.userId, "BTC", "2");
  // set up through the API: method, ad, take of 1.5 BTC (above the 1 BTC threshold), paid
  const method = await api<{ method_id: number }>(request, sellerAccount, "POST", "/api/v1/p2p/payment-methods", { name: "Revolut", details: "@seller" });
  const ad = await api<{ ad_id: number }>(request, sellerAccount, "POST", "/api/v1/p2p/ads", {
    side: "sell", asset: "BTC", fiat: "EUR", price: "40000", quantity: "1.5", min_quantity: "0.1", max_quantity: "1.5",
    payment_method_ids: [method.method_id], payment_window_seconds: 900, terms: "",
  });
  const trade = await api<{ trade_id: number; state: string }>(request, buyerAccount, "POST", `/api/v1/p2p/ads/${ad.ad_id}/take`, { quantity: "1.5" });
  await api(request, buyerAccount, "POST", `/api/v1/p2p/trades/${trade.trade_id}/paid`, { expected_state: "pending_payment" });

  // the buyer opens the dispute in the room once the appeal delay passed
  const buyer = await browserAs(browser, buyerAccount);
  await buyer.page.goto(url(`/p2p/trades/${trade.trade_id}`));
  await expect(buyer.page.getByTestId("trade-room")).toHaveAttribute("data-state", "paid");
  await buyer.page.getByRole("button", { name: "Open a dispute" }).click({ timeout: 20_000 });
  const form = buyer.page.getByRole("form", { name: "Open a dispute" });
  await form.getByLabel("Reason").selectOption("payment_not_received");
  await form.getByLabel("What happened").fill("I sent 60,000.00 EUR by Revolut at 14:02; the seller does not release.");
  await expectAccessible(buyer.page, "p2p-dispute-form");
  await screenshot(buyer.page, "p2p-dispute-form");
  await form.getByRole("button", { name: "Submit the dispute" }).click();
  await expect(buyer.page.getByTestId("trade-room")).toHaveAttribute("data-state", "disputed");
  await expect(buyer.page.getByTestId("dispute-info")).toContainText("I paid but the seller does not release");
  await expect(buyer.page.getByRole("button", { name: "Cancel the trade" })).toHaveCount(0); // frozen

  // the first admin: the queue, the timeline and chat, a release proposed
  const admin = await browserAs(browser, ADMIN);
  await admin.page.getByRole("link", { name: "P2P" }).click();
  await admin.page.getByRole("navigation", { name: "P2P" }).getByRole("link", { name: "Dispute queue" }).click();
  const queued = admin.page.locator(`[data-testid="disputes"] tr[data-trade-id="${trade.trade_id}"]`);
  await expect(queued).toContainText("1.5");
  await queued.getByRole("button", { name: `Review trade ${trade.trade_id}` }).click();
  const review = admin.page.getByTestId("dispute-review");
  await expect(review.getByTestId("timeline")).toContainText("Paid: waiting for release");
  await expect(review.getByTestId("timeline")).toContainText("In dispute");
  await expect(review.getByTestId("dispute-info")).toContainText("I sent 60,000.00 EUR");
  await review.getByLabel("Write a message").fill("Seller, please check your Revolut statement for 14:02.");
  await review.getByRole("button", { name: "Send" }).click();
  await expect(review.getByTestId("chat")).toContainText("check your Revolut statement");
  await review.getByLabel("Release to the buyer").check();
  await review.getByLabel(/^Note/).fill("The buyer's bank statement shows the transfer.");
  await review.getByRole("button", { name: "Resolve" }).click();
  await expect(review.getByTestId("resolve-outcome")).toHaveText("Recorded: a second admin must approve this resolution.");
  await expect(review.getByTestId("pending-resolution")).toContainText("A second, different admin must approve it.");
  await expect(queued).toContainText("awaiting a second admin");
  await expectAccessible(admin.page, "p2p-disputes");
  await screenshot(admin.page, "p2p-disputes");
  // the buyer sees the admin's line and the pending approval
  await expect(buyer.page.getByTestId("chat")).toContainText("check your Revolut statement", { timeout: 15_000 });
  await expect(buyer.page.getByTestId("pending-resolution")).toContainText("second admin", { timeout: 30_000 });
  expect(await available(request, buyerAccount, "BTC")).toBe("0.00000000"); // nothing moved yet

  // the second admin approves: the escrow goes to the buyer
  const admin2 = await browserAs(browser, ADMIN2);
  await admin2.page.goto(url("/p2p/disputes"));
  await admin2.page.getByRole("button", { name: `Review trade ${trade.trade_id}` }).click();
  const review2 = admin2.page.getByTestId("dispute-review");
  await expect(review2.getByTestId("pending-resolution")).toContainText("Choose the same outcome to approve it.");
  await review2.getByLabel("Release to the buyer").check();
  await review2.getByLabel(/^Note/).fill("Agreed: release.");
  await review2.getByRole("button", { name: "Resolve" }).click();
  await expect(review2.getByTestId("resolve-outcome")).toHaveText("Resolved: the escrow was released to the buyer.");
  await expect(admin2.page.locator(`[data-testid="disputes"] tr[data-trade-id="${trade.trade_id}"]`)).toHaveCount(0);
  await expect(buyer.page.getByTestId("trade-room")).toHaveAttribute("data-state", "resolved_release", { timeout: 15_000 });
  expect(await available(request, buyerAccount, "BTC")).toBe("1.49850000"); // 1.5 less the 0.1% fee
  await screenshot(buyer.page, "p2p-trade-room-resolved");

  for (const c of [buyer, admin, admin2]) await c.context.close();
});

test("the trade room counts down from the server's deadline, whatever the PC's clock says", async ({ browser, request }) => {
  const sellerAccount = await signUpByApi(request, "p2p-cseller");
  const buyerAccount = await signUpByApi(request, "p2p-cbuyer");
  await deposit(request, sellerAccount.userId, "BTC", "1");
  const method = await api<{ method_id: number }>(request, sellerAccount, "POST", "/api/v1/p2p/payment-methods", { name: "SEPA", details: "IBAN" });
  const ad = await api<{ ad_id: number }>(request, sellerAccount, "POST", "/api/v1/p2p/ads", {
    side: "sell", asset: "BTC", fiat: "USD", price: "50000", quantity: "0.1", min_quantity: "0.1", max_quantity: "0.1",
    payment_method_ids: [method.method_id], payment_window_seconds: 1800, terms: "",
  });
  const trade = await api<{ trade_id: number }>(request, buyerAccount, "POST", `/api/v1/p2p/ads/${ad.ad_id}/take`, { quantity: "0.1" });

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  // the buyer's PC is three years ahead: a countdown from Date.now() would show 00:00
  await page.clock.install({ time: new Date("2029-06-01T08:00:00Z") });
  await signInUi(page, buyerAccount.email, buyerAccount.password);
  await page.goto(url(`/p2p/trades/${trade.trade_id}`));
  const timer = page.getByRole("timer", { name: "Time left to pay" });
  await expect(timer).toHaveText(/^(29|30):\d\d$/);
  // and it runs: a later reading is lower (the page's clock flows; a refetch re-anchors
  // it on the server's now, which moves the same way)
  const seconds = async () => {
    const [m, s] = (await timer.textContent())!.split(":").map(Number);
    return m! * 60 + s!;
  };
  const first = await seconds();
  await expect.poll(seconds, { timeout: 10_000 }).toBeLessThan(first);
  await context.close();
});

test("an administrator removes an ad from the moderation page; the board reads well for a new maker", async ({ browser, request }) => {
  test.setTimeout(180_000);
  const makerAccount = await signUpByApi(request, "p2p-moderated");
  await deposit(request, makerAccount.userId, "BTC", "0.3");
  const method = await api<{ method_id: number }>(request, makerAccount, "POST", "/api/v1/p2p/payment-methods", { name: "SEPA", details: "IBAN X" });
  const terms = `moderation test ${Date.now()}`;
  const ad = await api<{ ad_id: number }>(request, makerAccount, "POST", "/api/v1/p2p/ads", {
    side: "sell", asset: "BTC", fiat: "USD", price: "51000", quantity: "0.3", min_quantity: "0.01", max_quantity: "0.3",
    payment_method_ids: [method.method_id], payment_window_seconds: 900, terms,
  });
  expect(await available(request, makerAccount, "BTC")).toBe("0.00000000"); // all of it in escrow

  // the board: a maker with no finished trade is a new trader, not "0 trades · – completed"
  const maker = await browserAs(browser, makerAccount);
  await maker.page.goto(url("/p2p"));
  const card = maker.page.locator(`[data-ad-id="${ad.ad_id}"]`).first();
  await expect(card.getByTestId("maker-stats")).toHaveText("New trader");

  const admin = await browserAs(browser, ADMIN);
  await admin.page.getByRole("link", { name: "P2P" }).click();
  await admin.page.getByRole("navigation", { name: "P2P" }).getByRole("link", { name: "Ad moderation" }).click();
  const row = admin.page.locator(`[data-testid="moderation-ads"] tr[data-ad-id="${ad.ad_id}"]`);
  await expect(row).toHaveAttribute("data-state", "open");
  await expect(row).toContainText(terms);
  await row.getByRole("button", { name: `Remove ad ${ad.ad_id}` }).click();
  const form = admin.page.getByRole("form", { name: `Remove ad ${ad.ad_id}` });
  await form.getByRole("button", { name: "Remove the ad" }).click();
  await expect(form.getByText("Give the reason: the maker is told it.")).toBeVisible(); // checked before sending
  await form.getByLabel(/^Reason/).fill("Terms break the desk's rules.");
  await expectAccessible(admin.page, "p2p-moderation");
  await screenshot(admin.page, "p2p-moderation");
  // the reason's box fits on the screen, beside or above the button, never under it;
  // on a phone-sized screen too
  const reason = form.getByLabel(/^Reason/);
  const submit = form.getByRole("button", { name: "Remove the ad" });
  await expectSideBySide(admin.page, reason, submit);
  await admin.page.setViewportSize({ width: 390, height: 844 });
  await expectSideBySide(admin.page, reason, submit);
  await screenshot(admin.page, "p2p-moderation-narrow");
  await admin.page.setViewportSize({ width: 1440, height: 900 });
  await form.getByRole("button", { name: "Remove the ad" }).click();
  await expect(row).toHaveCount(0); // gone from the open ads
  await admin.page.getByLabel("State").selectOption("cancelled");
  await expect(row).toHaveAttribute("data-state", "cancelled");

  // the server agrees: cancelled, the escrow back with the maker, off the board
  const after = await api<{ state: string }>(request, makerAccount, "GET", `/api/v1/p2p/ads/${ad.ad_id}`);
  expect(after.state).toBe("cancelled");
  expect(await available(request, makerAccount, "BTC")).toBe("0.30000000");
  await maker.page.reload();
  await expect(maker.page.locator(`[data-ad-id="${ad.ad_id}"]`)).toHaveCount(0);
  await maker.context.close();
  await admin.context.close();
});

test("an administrator pauses an ad with a reason, its maker cannot resume it, an administrator resumes it", async ({ browser, request }) => {
  test.setTimeout(180_000);
  const makerAccount = await signUpByApi(request, "p2p-paused");
  await deposit(request, makerAccount.userId, "BTC", "0.2");
  const method = await api<{ method_id: number }>(request, makerAccount, "POST", "/api/v1/p2p/payment-methods", { name: "SEPA", details: "IBAN Y" });
  const ad = await api<{ ad_id: number }>(request, makerAccount, "POST", "/api/v1/p2p/ads", {
    side: "sell", asset: "BTC", fiat: "USD", price: "52000", quantity: "0.2", min_quantity: "0.01", max_quantity: "0.2",
    payment_method_ids: [method.method_id], payment_window_seconds: 900, terms: `pause test ${Date.now()}`,
  });

  const admin = await browserAs(browser, ADMIN);
  await admin.page.goto(url("/p2p/moderation"));
  const row = admin.page.locator(`[data-testid="moderation-ads"] tr[data-ad-id="${ad.ad_id}"]`);
  await expect(row).toHaveAttribute("data-state", "open");
  await row.getByRole("button", { name: `Pause ad ${ad.ad_id}` }).click();
  const form = admin.page.getByRole("form", { name: `Pause ad ${ad.ad_id}` });
  await form.getByRole("button", { name: "Pause the ad" }).click();
  await expect(form.getByText("Give the reason: the maker is told it.")).toBeVisible(); // checked before sending
  await form.getByLabel(/^Reason/).fill("Checking the payment details.");
  await form.getByRole("button", { name: "Pause the ad" }).click();
  await expect(row).toHaveCount(0); // gone from the open ads
  await admin.page.getByLabel("State").selectOption("paused");
  await expect(row).toHaveAttribute("data-state", "paused");
  await expect(row.getByRole("button", { name: `Pause ad ${ad.ad_id}` })).toHaveCount(0);

  // the server agrees: paused by an administrator, escrow untouched, and its maker cannot resume it
  const paused = await api<{ state: string; paused_by_admin: boolean }>(request, makerAccount, "GET", `/api/v1/p2p/ads/${ad.ad_id}`);
  expect([paused.state, paused.paused_by_admin]).toEqual(["paused", true]);
  expect(await available(request, makerAccount, "BTC")).toBe("0.00000000");
  const refused = await request.post(url(`/api/v1/p2p/ads/${ad.ad_id}/resume`), { headers: { Authorization: `Bearer ${makerAccount.token}` } });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).code).toBe(7026);

  await row.getByRole("button", { name: `Resume ad ${ad.ad_id}` }).click();
  await expect(row).toHaveCount(0); // no longer paused
  const resumed = await api<{ state: string; paused_by_admin: boolean }>(request, makerAccount, "GET", `/api/v1/p2p/ads/${ad.ad_id}`);
  expect([resumed.state, resumed.paused_by_admin]).toEqual(["open", false]);
  await admin.context.close();
});

/** ``a`` and ``b`` are inside the page's width and do not overlap. */
async function expectSideBySide(page: Page, a: Locator, b: Locator): Promise<void> {
  const width = page.viewportSize()!.width;
  await expect(async () => {
    const [x, y] = [await a.boundingBox(), await b.boundingBox()];
    if (!x || !y) throw new Error("not laid out");
    for (const box of [x, y]) expect(box.x + box.width, "inside the page's width").toBeLessThanOrEqual(width);
    const apart = x.x + x.width <= y.x || y.x + y.width <= x.x || x.y + x.height <= y.y || y.y + y.height <= x.y;
    expect(apart, `${JSON.stringify(x)} overlaps ${JSON.stringify(y)}`).toBe(true);
  }).toPass({ timeout: 5_000 });
}
