"""Tool layer: the proxy's operation catalog as MCP tools, and running them (see README.md)."""
