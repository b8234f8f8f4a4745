import { describe, expect, it } from "vitest";
import { moveSchema, stepOf } from "./walletForm";

const context = {
  decimals: (asset: string) => (asset === "BTC" ? 8 : 6),
  available: (asset: string) => (asset === "BTC" ? "0.5" : "100.000001"),
};
const errors = (kind: "withdraw" | "transfer", values: { asset: string; amount: string; target: string }) =>
  Object.fromEntries((moveSchema(kind, context).safeParse(values).error?.issues ?? []).map((i) => [i.path.join("."), i.message]));

describe("withdraw and transfer forms", () => {
  it("accepts an amount on the asset's grid within the balance", () => {
    expect(errors("withdraw", { asset: "USD", amount: "100.000001", target: "" })).toEqual({});
    expect(errors("transfer", { asset: "BTC", amount: " 0.00000001 ", target: "addr" })).toEqual({});
  });

  it("refuses a bad, over-precise or too large amount, exactly (no float rounding)", () => {
    expect(errors("withdraw", { asset: "USD", amount: "1e2", target: "" }).amount).toBe("Enter a positive amount.");
    expect(errors("withdraw", { asset: "USD", amount: "0", target: "" }).amount).toBe("Enter a positive amount.");
    expect(errors("withdraw", { asset: "USD", amount: "0.0000001", target: "" }).amount).toBe("USD has 6 decimals.");
    expect(errors("withdraw", { asset: "USD", amount: "100.000002", target: "" }).amount).toBe("Insufficient USD: 100.000001 available.");
    expect(errors("withdraw", { asset: "BTC", amount: "0.50000001", target: "" }).amount).toBe("Insufficient BTC: 0.5 available.");
  });

  it("needs a recipient for a transfer, not for a withdrawal", () => {
    expect(errors("transfer", { asset: "USD", amount: "1", target: "  " }).target).toBe("Enter the wallet address to send to.");
    expect(errors("withdraw", { asset: "USD", amount: "1", target: "" }).target).toBeUndefined();
    expect(errors("withdraw", { asset: "USD", amount: "1", target: "a\u0000b" }).target).toBe("Control characters are not allowed.");
  });

  it("spells the grid of an asset", () => {
    expect(stepOf(8)).toBe("0.00000001");
    expect(stepOf(0)).toBe("1");
  });
});
