"""gumloop-mcp: scoped, safe access to Gumloop for AI agents over the Model Context Protocol.

Layout:
    gumloop_mcp.runtime      shared code: logging, gRPC wiring, settings, token format
    gumloop_mcp.proxy.v1     generated stubs for the proxy contract (protos/gumloop_mcp/proxy/v1)
    gumloop_mcp.tokens.v1    generated stubs for the token contract (protos/gumloop_mcp/tokens/v1)
    gumloop_mcp.emulator     the bundled Gumloop API emulator
    gumloop_mcp.cli          the `gumloop-mcp` command
The services themselves live in the top-level `services` package.
"""

__version__ = "0.1.0"
