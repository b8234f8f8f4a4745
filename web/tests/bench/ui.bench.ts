// `make bench-ui`: (1) time from navigation to a usable trading screen (the ladder
// painted with live data from the real server); (2) main-thread long tasks while the
// book receives 200 updates/s and the tape 50 trades/s for 30 s (a WebSocket played by
// the test, REST from the real server). Prints figures; writes artifacts/bench-ui.json.
import { test, type Page } from "@playwright/test";
import { execSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { ARTIFACTS, url } from "../e2e/helpers";

const results: Record<string, unknown> = {};

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function usableAt(page: Page): Promise<number> {
  // performance.now() counts from the navigation's start
  return page.evaluate(() => new Promise<number>((resolve) => {
    const ready = () => document.querySelector('[data-testid="ladder"] tr[data-side="bid"]') !== null
      && document.querySelector('[data-testid="ladder"] tr[data-side="ask"]') !== null;
    if (ready()) return resolve(performance.now());
    const observer = new MutationObserver(() => {
      if (ready()) { observer.disconnect(); resolve(performance.now()); }
    });
    observer.observe(document.body, { childList: true, subtree: true });
  }));
}

test("time to a usable trading screen", async ({ browser }) => {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const context = await browser.newContext(); // a cold cache each time
    const page = await context.newPage();
    await page.goto(url("/trade/BTC-USD"), { waitUntil: "commit" });
    times.push(await usableAt(page));
    await context.close();
  }
  times.sort((a, b) => a - b);
  results.usable_ms = { median: Math.round(percentile(times, 0.5)), max: Math.round(times[times.length - 1]!), runs: times.map(Math.round), target: 1500 };
  console.log(`usable after navigation: median ${Math.round(percentile(times, 0.5))} ms, max ${Math.round(times.at(-1)!)} ms (target 1500 ms)`);
});

test("long tasks under 200 book updates/s and 50 trades/s for 30 s", async ({ page }) => {
  const seconds = Number(process.env.BENCH_SECONDS ?? 30);
  let timers: ReturnType<typeof setInterval>[] = [];
  let sent = { deltas: 0, trades: 0 };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    let updateId = 1000;
    let tradeId = 1;
    const mid = 5_000_000; // cents
    const price = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, "0")}`;
    const lot = () => `0.${String(1 + Math.floor(Math.random() * 9999)).padStart(4, "0")}`;
    ws.onMessage((raw) => {
      const m = JSON.parse(String(raw)) as { op: string; channel?: string; symbol?: string; request_id?: unknown };
      if (m.op === "ping") ws.send(JSON.stringify({ type: "pong", request_id: m.request_id }));
      if (m.op !== "subscribe") return;
      ws.send(JSON.stringify({ type: "subscribed", channel: m.channel, symbol: m.symbol, epoch: "bench", resumed: false }));
      if (m.channel === "book") {
        const bids = Array.from({ length: 100 }, (_, i) => [price(mid - 50 - i * 50), lot()]);
        const asks = Array.from({ length: 100 }, (_, i) => [price(mid + 50 + i * 50), lot()]);
        ws.send(JSON.stringify({ type: "book_snapshot", symbol: "BTC-USD", update_id: updateId, epoch: "bench", bids, asks }));
        // 200 updates per second: one every 5 ms, each a few levels near the top
        timers.push(setInterval(() => {
          updateId++;
          const level = (side: number) => [price(mid + side * (50 + 50 * Math.floor(Math.random() * 40))), Math.random() < 0.1 ? "0" : lot()];
          ws.send(JSON.stringify({ type: "book_delta", symbol: "BTC-USD", first_update_id: updateId, last_update_id: updateId,
            bids: [level(-1), level(-1)], asks: [level(1), level(1)] }));
          sent.deltas++;
        }, 5));
      }
      if (m.channel === "trades") {
        timers.push(setInterval(() => {
          const side = Math.random() < 0.5 ? "buy" : "sell";
          ws.send(JSON.stringify({ type: "trade", symbol: "BTC-USD", trade_id: String(tradeId++), price: price(mid + (side === "buy" ? 50 : -50)),
            quantity: lot(), side, timestamp_ns: Date.now() * 1_000_000 }));
          sent.trades++;
        }, 20));
      }
      if (m.channel === "ticker") {
        timers.push(setInterval(() => ws.send(JSON.stringify({ type: "ticker", symbol: "BTC-USD", open: "49000.00", high: "51000.00", low: "48000.00",
          last: price(mid), volume: "12.3456", trades: tradeId, change: "1000.00", best_bid: price(mid - 50), best_ask: price(mid + 50) })), 250));
      }
    });
  });
  await page.goto(url("/trade/BTC-USD"));
  await page.locator('[data-testid="ladder"] tr[data-side="bid"]').first().waitFor();
  await page.waitForTimeout(2000); // the lazy charts load; then measure
  sent = { deltas: 0, trades: 0 };
  const measured = await page.evaluate((ms) => new Promise<{ longTaskMs: number; count: number; frames: number }>((resolve) => {
    let longTaskMs = 0;
    let count = 0;
    let frames = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        longTaskMs += entry.duration;
        count++;
      }
    });
    observer.observe({ type: "longtask" });
    const frame = () => { frames++; if (!done) requestAnimationFrame(frame); };
    let done = false;
    requestAnimationFrame(frame);
    setTimeout(() => { done = true; observer.disconnect(); resolve({ longTaskMs, count, frames }); }, ms);
  }), seconds * 1000);
  timers.forEach(clearInterval);
  timers = [];
  const share = measured.longTaskMs / (seconds * 1000);
  results.long_tasks = {
    seconds, book_updates_per_s: Math.round(sent.deltas / seconds), trades_per_s: Math.round(sent.trades / seconds),
    long_task_ms: Math.round(measured.longTaskMs), long_tasks: measured.count, share_percent: Number((share * 100).toFixed(2)),
    fps: Number((measured.frames / seconds).toFixed(1)), target_percent: 5,
  };
  console.log(`long tasks: ${Math.round(measured.longTaskMs)} ms in ${measured.count} tasks over ${seconds} s = ${(share * 100).toFixed(2)}% (target < 5%); ` +
    `${Math.round(sent.deltas / seconds)} book updates/s, ${Math.round(sent.trades / seconds)} trades/s sent; ${(measured.frames / seconds).toFixed(1)} frames/s`);
});

test.afterAll(() => {
  let commit = "unknown";
  try { commit = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim(); } catch { /* not a checkout */ }
  const out = { commit, machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}`, when: new Date().toISOString(), ...results };
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, "bench-ui.json"), JSON.stringify(out, null, 2));
  console.log(JSON.stringify(out, null, 2));
});
