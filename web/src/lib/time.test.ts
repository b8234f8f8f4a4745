import { describe, expect, it } from "vitest";
import { candleLabel, formatClock, nsToMs } from "./time";

describe("times", () => {
  it("turns nanoseconds beyond 2^53 into milliseconds exactly", () => {
    expect(nsToMs("1796290911660052208")).toBe(1796290911660);
    expect(nsToMs(1_700_000_000_123_456_789n)).toBe(1_700_000_000_123);
  });

  it("labels candles in the given zone (the browser's by default)", () => {
    const t = Date.UTC(2026, 11, 3, 9, 30) / 1000;
    expect(candleLabel(t, false, "UTC")).toBe("09:30");
    expect(candleLabel(t, false, "Asia/Tokyo")).toBe("18:30");
    expect(candleLabel(t, true, "America/New_York")).toBe("03 Dec, 04:30");
    expect(candleLabel(t, false)).toBe(new Date(t * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false }));
  });

  it("shows trade times on the local clock", () => {
    const ms = Date.UTC(2026, 0, 1, 12, 0, 5);
    const local = new Date(ms);
    const pad = (n: number) => String(n).padStart(2, "0");
    expect(formatClock(String(BigInt(ms) * 1_000_000n))).toContain(`${pad(local.getMinutes())}:${pad(local.getSeconds())}`);
  });
});
