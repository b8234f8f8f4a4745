import { describe, expect, it } from "vitest";
import { healthPoint, quantileBetween, type HealthSample } from "./health";

const buckets = (counts: number[]) => ["0.001", "0.002", "0.005", "+Inf"].map((le, i) => ({ le, count: counts[i]! }));

describe("health figures", () => {
  it("interpolates a quantile inside the bucket of the interval's observations", () => {
    // 100 observations between the samples: 50 under 1 ms, 50 in (1, 2] ms
    expect(quantileBetween(buckets([10, 10, 10, 10]), buckets([60, 110, 110, 110]), 0.5)).toBeCloseTo(0.001);
    expect(quantileBetween(buckets([10, 10, 10, 10]), buckets([60, 110, 110, 110]), 0.99)).toBeCloseTo(0.00198);
    expect(quantileBetween(buckets([1, 1, 1, 1]), buckets([1, 1, 1, 1]), 0.5)).toBeNull();
  });

  it("gives rates per second between two samples", () => {
    const a: HealthSample = { atMs: 0, commands_by_type: { PlaceOrder: 10, Deposit: 5 }, trades_by_symbol: { X: 1 }, ack_latency_seconds: { buckets: buckets([0, 0, 0, 0]) } };
    const b: HealthSample = { atMs: 2000, commands_by_type: { PlaceOrder: 30, CancelOrder: 10, Deposit: 50 }, trades_by_symbol: { X: 9 }, ack_latency_seconds: { buckets: buckets([4, 4, 4, 4]) } };
    const p = healthPoint(a, b);
    expect(p.ordersPerSec).toBe(15);
    expect(p.tradesPerSec).toBe(4);
    expect(p.p50Ms).toBeCloseTo(0.5);
  });
});
