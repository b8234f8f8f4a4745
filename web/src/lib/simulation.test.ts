import { describe, expect, it } from "vitest";
import { changeAgainst, normaliseSimulation } from "./simulation";

describe("normaliseSimulation", () => {
  it("reads the contract's figures, with units from the suffixes", () => {
    const run = normaliseSimulation({
      orders: 10000, trades: 4200, throughput: 51234.5,
      latency_us: { p50: 12.5, p99: 80, p99_9: 240 },
      latency_histogram: [{ le_us: 10, count: 3000 }, { le_us: 100, count: 6900 }, { le_us: 1000, count: 100 }],
      throughput_series: [{ t: 0, value: 50000 }, { t: 1, value: 52000 }],
    }, 10000, 1, 0);
    expect(run).toMatchObject({ orders: 10000, trades: 4200, throughput: 51234.5, p50Us: 12.5, p99Us: 80, p999Us: 240 });
    expect(run.histogram).toHaveLength(3);
    expect(run.series).toEqual([{ t: 0, value: 50000 }, { t: 1, value: 52000 }]);
  });

  it("converts milliseconds and nanoseconds", () => {
    const run = normaliseSimulation({ orders: 1, trades: 0, throughput: 1, p50_ms: 1.5, p99_ns: 2000, p999_us: 9 }, 1, 1, 0);
    expect([run.p50Us, run.p99Us, run.p999Us]).toEqual([1500, 2, 9]);
  });

  it("refuses an answer without figures", () => {
    expect(() => normaliseSimulation(null, 1, 1, 0)).toThrow(/no figures/);
  });

  it("gives the change against the previous run", () => {
    expect(changeAgainst(110, 100)).toBe("+10.0%");
    expect(changeAgainst(90, 100)).toBe("-10.0%");
    expect(changeAgainst(90, null)).toBeNull();
  });
});
