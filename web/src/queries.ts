// The page's one REST cache (react-query), shared by the app and the early start below.
import { QueryClient } from "@tanstack/react-query";
import { api } from "./api/client";
import { startFeed } from "./stores/market";

export const queries = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } });

/** On the trading screen, ask for the markets and open the market's socket before React
 * first renders: the book's snapshot then arrives while the page is still starting. */
export function startEarly(path: string): void {
  const match = /^\/(?:trade\/([A-Za-z0-9_/-]+))?$/.exec(path);
  if (!match) return;
  void queries.prefetchQuery({ queryKey: ["symbols"], queryFn: api.symbols, staleTime: 30_000 });
  startFeed((match[1] ?? "BTC-USD").toUpperCase(), "1m", queries);
}
