// A real `matchbook serve` for the browser tests: journal and SQLite in a temporary
// directory, the demo market on, a free port, an administrator created beforehand with
// `matchbook admin create-user --admin`. The UI it serves is the built web/dist.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ADMIN = { email: "admin@e2e.matchbook", password: "admin-e2e-password" };
/** A second administrator: P2P disputes above the second-approval amount need two. */
export const ADMIN2 = { email: "admin2@e2e.matchbook", password: "admin2-e2e-password" };
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const matchbook = process.env.MATCHBOOK_BIN ?? join(root, ".venv", "bin", "matchbook");

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 180_000; // a loaded machine starts slowly
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`matchbook serve exited with ${child.exitCode}:\n${log()}`);
    try {
      const r = await fetch(`${url}/api/v1/health`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`matchbook serve did not become healthy:\n${log()}`);
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(root, "web", "dist", "index.html"))) throw new Error("web/dist is not built: run `npm run build` first");
  const dataDir = mkdtempSync(join(tmpdir(), "matchbook-e2e-"));
  execFileSync(matchbook, ["admin", "create-user", "--data-dir", dataDir, "--email", ADMIN.email, "--password", ADMIN.password, "--admin"],
    { stdio: "pipe" });
  execFileSync(matchbook, ["admin", "create-user", "--data-dir", dataDir, "--email", ADMIN2.email, "--password", ADMIN2.password, "--admin"],
    { stdio: "pipe" });
  // the shipped markets, with a P2P appeal delay of 2 s instead of 15 min (a browser test
  // opens a dispute) and a second admin needed above 1 BTC (as shipped)
  const shipped = readFileSync(join(root, "src", "matchbook", "config", "markets.toml"), "utf8");
  if (!/^appeal_after_s = \d+/m.test(shipped)) throw new Error("markets.toml has no [p2p] appeal_after_s line");
  const markets = join(dataDir, "markets-e2e.toml");
  writeFileSync(markets, shipped.replace(/^appeal_after_s = \d+/m, "appeal_after_s = 2"));
  const port = await freePort();
  let output = "";
  const child = spawn(matchbook, ["serve", "--demo", "--data-dir", dataDir, "--port", String(port), "--journal-mode", "os"],
    { stdio: ["ignore", "pipe", "pipe"], env: {
      ...process.env, MATCHBOOK_WEB_DIR: join(root, "web", "dist"), MATCHBOOK_MARKETS_FILE: markets,
      // every test signs up and reads market data from one address (127.0.0.1): the
      // per-address throttles stay on, with room for the whole suite
      MATCHBOOK_SIGNUP_BURST: "1000", MATCHBOOK_ANON_RATE_BURST: "100000",
      MATCHBOOK_ANON_RATE_PER_SECOND: "10000", MATCHBOOK_LOGIN_MAX_FAILURES: "1000",
    } });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, child, () => output.slice(-4000));
  } catch (e) {
    child.kill("SIGTERM"); // never leave a server behind
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  process.env.MB_BASE_URL = url;
  return async () => {
    child.kill("SIGTERM");
    await new Promise((r) => { if (child.exitCode !== null) r(null); else child.once("exit", r); setTimeout(r, 15_000); });
    rmSync(dataDir, { recursive: true, force: true });
  };
}

export function baseUrl(): string {
  if (process.env.MB_BASE_URL) return process.env.MB_BASE_URL;
  throw new Error("MB_BASE_URL is not set: the global setup starts the server");
}
