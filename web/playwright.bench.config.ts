import { defineConfig } from "@playwright/test";
import { chromium } from "./playwright.config";

// `make bench-ui`: figures, not pass/fail tests (see tests/bench/ui.bench.ts).
export default defineConfig({
  testDir: "tests/bench",
  testMatch: /.*\.bench\.ts$/,
  globalSetup: "./tests/server.ts",
  workers: 1,
  timeout: 180_000,
  reporter: [["list"]],
  use: { launchOptions: chromium, viewport: { width: 1440, height: 900 } },
});
