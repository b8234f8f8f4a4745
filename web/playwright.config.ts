import { defineConfig } from "@playwright/test";

// Debian's Chromium (Playwright cannot download its own browser here).
export const chromium = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
};

export default defineConfig({
  testDir: "tests/e2e",
  globalSetup: "./tests/server.ts",
  workers: 1,
  fullyParallel: false,
  timeout: 240_000, // a bound on a hang, generous for a loaded 2-core machine
  expect: { timeout: 10_000 },
  retries: 0,
  outputDir: "test-results",
  reporter: [["list"]],
  use: {
    launchOptions: chromium,
    viewport: { width: 1440, height: 900 },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
});
