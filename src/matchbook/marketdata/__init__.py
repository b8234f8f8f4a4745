"""Public market data derived from the event stream: L2 books and deltas, trades,
tickers, candles."""
