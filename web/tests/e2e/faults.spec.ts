// Fault injection between the page and the real server with page.routeWebSocket.
import { expect, test, type WebSocketRoute } from "@playwright/test";
import { expectLadderEqualsDepth, url } from "./helpers";

type Tap = {
  toPage: (message: string) => string[];
  fromPage?: (message: string) => void;
  /** Refuse this many sockets after the first (closed at once, never reaching the server). */
  refuseReconnects?: number;
};

/** Proxy /ws to the server, passing each server message through ``tap``. */
async function proxy(page: import("@playwright/test").Page, tap: Tap): Promise<{ sockets: WebSocketRoute[] }> {
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    sockets.push(ws);
    if (sockets.length > 1 && sockets.length <= 1 + (tap.refuseReconnects ?? 0)) {
      void ws.close({ code: 1013, reason: "injected refusal" });
      return;
    }
    const server = ws.connectToServer();
    ws.onMessage((m) => { tap.fromPage?.(String(m)); server.send(m); });
    server.onMessage((m) => { for (const out of tap.toPage(String(m))) ws.send(out); });
  });
  return { sockets };
}

test.afterEach(async ({ page }) => {
  await page.unrouteAll({ behavior: "ignoreErrors" });
});

test("a dropped socket reconnects, resumes the book with since, and leaves no ghost level", async ({ page, request }) => {
  const subscribes: Record<string, unknown>[] = [];
  const { sockets } = await proxy(page, {
    toPage: (m) => [m],
    fromPage: (m) => { const o = JSON.parse(m) as Record<string, unknown>; if (o.op === "subscribe" && o.channel === "book") subscribes.push(o); },
    // the first reconnect is refused, so the page waits its back-off before the next: long
    // enough to show "reconnecting" (views are published at most ten times a second)
    refuseReconnects: 1,
  });
  await page.goto(url("/trade/BTC-USD"));
  await expect(page.getByTestId("connection-badge")).toHaveAttribute("data-state", "live");
  await expect(page.locator('[data-testid="ladder"] tr[data-side="bid"]').first()).toBeVisible();
  // the badge's states, as the page shows them (the first reconnect is immediate)
  await page.evaluate(() => {
    const w = window as unknown as { __badge: string[] };
    w.__badge = [];
    const badge = () => document.querySelector('[data-testid="connection-badge"]')?.getAttribute("data-state") ?? "none";
    new MutationObserver(() => { if (w.__badge.at(-1) !== badge()) w.__badge.push(badge()); })
      .observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
  });
  await sockets[0]!.close({ code: 1011, reason: "injected drop" });
  await expect.poll(() => page.evaluate(() => (window as unknown as { __badge: string[] }).__badge)).toEqual(["reconnecting", "live"]);
  expect(sockets.length).toBeGreaterThanOrEqual(3);
  expect(subscribes.length).toBeGreaterThanOrEqual(2);
  expect(subscribes[1]).toMatchObject({ since: expect.any(Number), epoch: expect.any(String) });
  await expectLadderEqualsDepth(page, request);
});

test("a skipped update id is detected: the book resubscribes with since and matches the server", async ({ page, request }) => {
  let dropped = 0;
  let seen = 0;
  const resubscribes: Record<string, unknown>[] = [];
  await proxy(page, {
    toPage: (m) => {
      const o = JSON.parse(m) as { type?: string };
      if (o.type === "book_delta" && ++seen === 5 && dropped === 0) {
        dropped++;
        return []; // the client never sees this update id
      }
      return [m];
    },
    fromPage: (m) => {
      const o = JSON.parse(m) as Record<string, unknown>;
      if (o.op === "subscribe" && o.channel === "book" && o.since !== undefined) resubscribes.push(o);
    },
  });
  await page.goto(url("/trade/BTC-USD"));
  await expect.poll(() => dropped, { timeout: 20_000 }).toBe(1);
  await expect.poll(() => resubscribes.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
  await expectLadderEqualsDepth(page, request);
});

test("a duplicated trade shows once on the tape", async ({ page }) => {
  let duplicated = 0;
  await proxy(page, {
    toPage: (m) => {
      const o = JSON.parse(m) as { type?: string };
      if (o.type === "trade") {
        duplicated++;
        return [m, m];
      }
      return [m];
    },
  });
  await page.goto(url("/trade/BTC-USD"));
  await expect.poll(() => duplicated, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
  await expect(page.locator('[data-testid="tape"] tr[data-trade-id]').first()).toBeVisible();
  const ids = await page.locator('[data-testid="tape"] tr[data-trade-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-trade-id")));
  expect(ids.length).toBeGreaterThan(0);
  expect(new Set(ids).size).toBe(ids.length);
});

test("a silent server turns the badge stale with the data's age", async ({ page }) => {
  let silent = false;
  await proxy(page, { toPage: (m) => (silent ? [] : [m]) });
  await page.goto(url("/trade/BTC-USD"));
  await expect(page.getByTestId("connection-badge")).toHaveAttribute("data-state", "live");
  silent = true;
  await expect(page.getByTestId("connection-badge")).toHaveText(/Stale [5-9] s/, { timeout: 15_000 });
});
