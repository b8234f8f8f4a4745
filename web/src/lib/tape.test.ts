import { describe, expect, it } from "vitest";
import { Tape, type TapeTrade } from "./tape";

const trade = (id: number, side: "buy" | "sell" = "buy"): TapeTrade =>
  ({ trade_id: String(id), price: "100.00", quantity: "1", side, timestamp_ns: id });

describe("Tape", () => {
  it("keeps each trade id once, newest first", () => {
    const tape = new Tape(10);
    expect(tape.add([trade(1), trade(2)])).toBe(2);
    expect(tape.add([trade(2)])).toBe(0);
    expect(tape.add([trade(3), trade(1)])).toBe(1);
    expect(tape.trades.map((t) => t.trade_id)).toEqual(["3", "2", "1"]);
  });

  it("orders by id numerically, not as text, and keeps at most its capacity", () => {
    const tape = new Tape(3);
    tape.add([trade(9), trade(10), trade(100), trade(11)]);
    expect(tape.trades.map((t) => t.trade_id)).toEqual(["100", "11", "10"]);
  });
});
