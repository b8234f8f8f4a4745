import { describe, expect, it } from "vitest";
import { Decimal, floorToStep, formatFixed, isOnStep, parseDecimal, percentChange, priceKey } from "./decimal";

describe("decimal formatting", () => {
  it("never prints exponent notation, for tiny or huge amounts", () => {
    expect(formatFixed("0.00000001", 8)).toBe("0.00000001");
    expect(new Decimal("0.0000000001").toString()).toBe("0.0000000001");
    expect(formatFixed("123456789012345678901234.5", 2, true)).toBe("123,456,789,012,345,678,901,234.50");
    expect(formatFixed("1e-7", 8)).toBe("0.00000010");
  });

  it("keeps decimals exact where floats would not", () => {
    expect(new Decimal("0.1").plus("0.2").toFixed()).toBe("0.3");
    expect(formatFixed("50000.005", 2)).toBe("50000.00"); // truncated, never rounded up
  });

  it("parses only plain decimals", () => {
    expect(parseDecimal("1.5")?.toFixed()).toBe("1.5");
    expect(parseDecimal(".5")?.toFixed()).toBe("0.5");
    for (const bad of ["1e5", "-1", "1,5", "abc", "", "1.2.3", "Infinity", "NaN"]) expect(parseDecimal(bad)).toBeNull();
  });

  it("rounds down to a step and checks the grid", () => {
    expect(floorToStep("1.23456", "0.0001").toFixed()).toBe("1.2345");
    expect(isOnStep("1.2345", "0.0001")).toBe(true);
    expect(isOnStep("1.23456", "0.0001")).toBe(false);
    expect(priceKey("100.05") > priceKey("100.04")).toBe(true);
    expect(percentChange("110", "100")).toBe("10.00");
    expect(percentChange("1", "0")).toBeNull();
  });
});
