"""The mcp_facade service."""
