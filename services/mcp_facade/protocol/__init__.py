"""MCP protocol layer: JSON-RPC, sessions, tasks, input-required rounds, live work (see README.md)."""
