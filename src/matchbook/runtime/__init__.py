"""The runtime: the sequencer that owns the engine, and the exchange around it."""
