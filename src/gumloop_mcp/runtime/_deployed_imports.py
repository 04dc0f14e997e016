"""A service process imports what the image has, even in the development environment.

Some libraries import an optional package whenever it happens to be installed: jsonschema loads a
format checker from each format library it finds (rfc3987-syntax builds a grammar with lark at
import: about a second of every proxy start), and httpx loads its command line (click, rich,
pygments). The image installs the runtime dependencies only, where none of these exist; the
development environment has them as other tools' dependencies (cyclonedx-py pulls jsonschema's
format extra). No service uses them: the validators are built without a format checker, and
nothing runs httpx's command line. `import_as_deployed` marks them absent, so a service started
from the development environment (`make up`, the end-to-end tests) imports and behaves as in the
image, and starts as fast. Called by each service's entry point before its own modules load; never
by library code (a test process keeps whatever it has).
"""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["DEPLOYED_WITHOUT", "import_as_deployed"]

# Importable in the development environment, absent from the image; the unit test of this module
# checks both halves of that (so the list cannot silently go stale).
DEPLOYED_WITHOUT: Final = (
    # jsonschema's optional format libraries (its format-nongpl extra)
    "fqdn",
    "isoduration",
    "jsonpointer",
    "rfc3339_validator",
    "rfc3986_validator",
    "rfc3987_syntax",
    "uri_template",
    "webcolors",
    # httpx's command line (its cli extra: click, rich, pygments)
    "httpx._main",
)


def import_as_deployed() -> None:
    """Make `import` of each module in DEPLOYED_WITHOUT fail in this process, as in the image; a
    module already imported stays."""
    for name in DEPLOYED_WITHOUT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "import fails", by design
