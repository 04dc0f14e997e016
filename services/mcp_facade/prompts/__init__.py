"""Prompts: the work people ask Gumloop for, rendered with the scope's own tools (see README.md)."""
