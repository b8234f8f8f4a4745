// The gzipped JavaScript the trading screen loads first: the entry script and the
// modules index.html preloads (the charts and the other pages are lazy chunks).
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const dist = resolve(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const all = readdirSync(join(dist, "assets")).filter((f) => f.endsWith(".js")).map((f) => `assets/${f}`);
const kb = (n) => (n / 1024).toFixed(1);
const initialBytes = initial.reduce((s, f) => s + gz(f), 0);
const charts = all.filter((f) => /\/(Candles|DepthChart|CartesianChart)-/.test(f));
console.log(JSON.stringify({
  initial_js_gzip_kb: Number(kb(initialBytes)),
  initial_files: initial,
  trading_screen_with_charts_gzip_kb: Number(kb(initialBytes + charts.reduce((s, f) => s + gz(f), 0))),
  all_js_gzip_kb: Number(kb(all.reduce((s, f) => s + gz(f), 0))),
  target_initial_kb: 300,
}, null, 2));
if (process.argv.includes("--check") && initialBytes > 300 * 1024) {
  console.error(`initial JS ${kb(initialBytes)} kB gzipped is above 300 kB`);
  process.exit(1);
}
