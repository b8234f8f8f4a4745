"""The HTTP and WebSocket gateway: a FastAPI app over the running exchange."""
