import { describe, expect, it } from "vitest";
import { stepPath } from "./DepthChart";

describe("depth step paths", () => {
  it("steps a bid before each point and an ask after, closed to the axis", () => {
    // bids, lowest price first: the edge (0, 30), then levels at x 10 (30) and 20 (10)
    expect(stepPath([[0, 30], [10, 30], [20, 10]], 50, true)).toBe("M0,50L0,30L0,30L10,30L10,10L20,10L20,50Z");
    // asks: level at x 30 (10), 40 (30), then the edge at 50 (30)
    expect(stepPath([[30, 10], [40, 30], [50, 30]], 50, false)).toBe("M30,50L30,10L40,10L40,30L50,30L50,30L50,50Z");
    expect(stepPath([], 50, true)).toBe("");
  });
});
