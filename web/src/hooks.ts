import { useQuery } from "@tanstack/react-query";
import { api } from "./api/client";
import type { SymbolInfo } from "./lib/market";
import { useAuth } from "./stores/auth";

export function useSymbols() {
  return useQuery({ queryKey: ["symbols"], queryFn: api.symbols, staleTime: 30_000 });
}

export function useAssets() {
  return useQuery({ queryKey: ["assets"], queryFn: api.assets, staleTime: Infinity });
}

export function useSymbol(name: string): SymbolInfo | undefined {
  return useSymbols().data?.find((s) => s.symbol === name);
}

export function useAssetDecimals(asset: string | undefined): number {
  return useAssets().data?.find((a) => a.asset === asset)?.decimals ?? 8;
}

export function useSession() {
  return useAuth((s) => s.session);
}
