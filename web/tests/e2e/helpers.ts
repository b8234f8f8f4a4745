import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ADMIN, baseUrl } from "../server";

export const url = (path: string) => baseUrl() + path;
/** A USD price (two decimals) as integer cents, and back: exact price arithmetic. */
export const cents = (price: string) => BigInt(price.replace(".", ""));
export const price = (c: bigint) => `${c / 100n}.${String(c % 100n).padStart(2, "0")}`;
export const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "artifacts");

export interface Account { email: string; password: string; userId: number; token: string }

let counter = 0;
export function freshEmail(tag: string): string {
  return `${tag}-${Date.now()}-${counter++}@e2e.matchbook`;
}

export async function login(request: APIRequestContext, email: string, password: string): Promise<Account> {
  const r = await request.post(url("/api/v1/auth/login"), { data: { email, password } });
  expect(r.status(), await r.text()).toBe(200);
  const body = (await r.json()) as { access_token: string; user_id: number };
  return { email, password, userId: body.user_id, token: body.access_token };
}

export async function signUpByApi(request: APIRequestContext, tag: string): Promise<Account> {
  const email = freshEmail(tag);
  const password = "e2e-password-123";
  const r = await request.post(url("/api/v1/auth/signup"), { data: { email, password } });
  expect(r.status(), await r.text()).toBe(201);
  return login(request, email, password);
}

export async function admin(request: APIRequestContext): Promise<Account> {
  return login(request, ADMIN.email, ADMIN.password);
}

/** Deposit through the administrator's API, as an operator would credit a user. */
export async function deposit(request: APIRequestContext, userId: number, asset: string, amount: string): Promise<void> {
  const operator = await admin(request);
  const r = await request.post(url("/api/v1/admin/deposits"), {
    data: { user_id: userId, asset, amount, reference: "e2e" }, headers: { authorization: `Bearer ${operator.token}` },
  });
  expect(r.status(), await r.text()).toBe(201);
}

export async function signInUi(page: Page, email: string, password: string): Promise<void> {
  await page.goto(url("/signin"));
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-as")).toHaveText(email);
}

export interface Depth { last_update_id: number; bids: [string, string][]; asks: [string, string][] }

export async function depth(request: APIRequestContext, symbol = "BTC-USD", limit = 50): Promise<Depth> {
  const r = await request.get(url(`/api/v1/depth?symbol=${symbol}&limit=${limit}`));
  return (await r.json()) as Depth;
}

/** The ladder equals GET /api/v1/depth: the page records every ladder it renders, by
 * update id; the REST answer is compared with the ladder the page showed at its id. */
export async function expectLadderEqualsDepth(page: Page, request: APIRequestContext): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __ladders?: Map<number, { bids: string[][]; asks: string[][]; depth: number }> };
    if (w.__ladders) return;
    const seen = new Map<number, { bids: string[][]; asks: string[][]; depth: number }>();
    w.__ladders = seen;
    const record = () => {
      const table = document.querySelector('[data-testid="ladder"]');
      const id = Number(table?.getAttribute("data-update-id") ?? -1);
      if (id < 0) return;
      const rows = (side: string) => [...document.querySelectorAll(`[data-testid="ladder"] tr[data-side="${side}"]`)]
        .map((tr) => [tr.getAttribute("data-price")!, tr.getAttribute("data-quantity")!]);
      seen.set(id, { bids: rows("bid"), asks: rows("ask").reverse(), depth: Number(table?.getAttribute("data-rows")) });
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  for (let attempt = 0; attempt < 12; attempt++) {
    const rest = await depth(request);
    const shown = await page.evaluate(async (id) => {
      const w = window as unknown as { __ladders: Map<number, { bids: string[][]; asks: string[][]; depth: number }> };
      // the page may trail the server (a loaded machine, a proxied socket): up to 8 s
      for (let i = 0; i < 160 && Math.max(-1, ...w.__ladders.keys()) < id; i++) await new Promise((r) => setTimeout(r, 50));
      return w.__ladders.get(id) ?? null;
    }, rest.last_update_id);
    if (shown === null) continue; // the page merged past that id: ask again
    // the ladder shows as many levels per side as fit its panel (data-rows)
    expect(shown.depth).toBeGreaterThanOrEqual(3);
    expect(shown.bids.length).toBe(Math.min(rest.bids.length, shown.depth));
    expect(shown.asks.length).toBe(Math.min(rest.asks.length, shown.depth));
    expect(shown.bids).toEqual(rest.bids.slice(0, shown.bids.length));
    expect(shown.asks).toEqual(rest.asks.slice(0, shown.asks.length));
    return;
  }
  throw new Error("the page never showed the update id of GET /api/v1/depth");
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(join(ARTIFACTS, "screens"), { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "screens", `${name}.png`) });
}

/** An axe scan: no serious or critical violation. */
export async function expectAccessible(page: Page, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${name}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

/** Form controls laid out in one row line up: the same top edge and the same height
 *  (an input and a select with the same padding are not the same height by default). */
export async function expectAligned(controls: Locator[]): Promise<void> {
  const boxes = await Promise.all(controls.map(async (c) => c.boundingBox()));
  const shown = boxes.map((b, i) => {
    if (!b) throw new Error(`control ${i} is not visible`);
    return { top: Math.round(b.y), height: Math.round(b.height) };
  });
  expect(shown).toEqual(shown.map(() => shown[0]));
}
