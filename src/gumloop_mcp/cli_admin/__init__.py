"""`gumloop-mcp servers|accounts|api-tokens|catalog`: the management API's verbs on the command line.

`add_commands()` adds the subcommands to the main parser; `run()` executes one. They speak to
the management REST API over HTTP (`connection.py` finds its URL and token), print tables
(`render.py`) or JSON with `--json`, and exit non-zero with the API's own message on a refusal.
"""

from __future__ import annotations

from .commands import COMMANDS, add_commands, run

__all__ = ["COMMANDS", "add_commands", "run"]
