// A symbol's trading rules as GET /api/v1/symbols gives them (decimal strings).
import { decimalsOf } from "./decimal";

export interface SymbolInfo {
  symbol: string;
  base: string;
  quote: string;
  tick_size: string;
  lot_size: string;
  min_quantity: string;
  max_quantity: string;
  min_notional: string;
  price_band_bps: number;
  market_protection_bps: number;
  maker_fee: string;
  taker_fee: string;
  halted: boolean;
}

export interface AssetInfo {
  asset: string;
  decimals: number;
}

export interface Balance {
  asset: string;
  available: string;
  held: string;
  total: string;
  address: string | null;
}

export function priceDecimals(s: SymbolInfo): number {
  return decimalsOf(s.tick_size);
}

export function qtyDecimals(s: SymbolInfo): number {
  return decimalsOf(s.lot_size);
}

export function available(balances: Balance[] | undefined, asset: string): string {
  return balances?.find((b) => b.asset === asset)?.available ?? "0";
}
