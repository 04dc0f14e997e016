"""The three gumloop-mcp services; each imports only gumloop_mcp.runtime and the generated stubs."""
