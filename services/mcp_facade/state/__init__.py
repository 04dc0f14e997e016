"""What outlives one request: shared state (memory or Redis), call budget, gRPC backends (see README.md)."""
