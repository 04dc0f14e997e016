"""HTTP edge of the façade: the aiohttp app, both MCP transports, auth, limits, health (see README.md)."""
