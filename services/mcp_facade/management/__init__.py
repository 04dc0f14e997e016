"""The management REST API on the admin port (see README.md)."""
