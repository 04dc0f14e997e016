"""The gumloop_proxy service."""
