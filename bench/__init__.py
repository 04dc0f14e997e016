"""Benchmarks: what the stack costs per tool call, how far it scales, how it compares (`make bench`)."""
