"""The server-side pepper: the HMAC key of every stored token hash.

From settings when set (every replica must share it); otherwise generated once into
`<data_dir>/tokens.pepper` with mode 0600, which suits the single-replica SQLite default.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

from .settings import TokenSettings

__all__ = ["load_pepper"]

logger = logging.getLogger(__name__)

_PEPPER_BYTES: Final = 32
_FILE_NAME: Final = "tokens.pepper"
_MIN_CHARS: Final = 16


def load_pepper(settings: TokenSettings) -> bytes:
    """The pepper from settings, or from (a newly created) pepper file in data_dir."""
    if settings.pepper is not None:
        value = settings.pepper.get_secret_value().encode()
        if len(value) < _MIN_CHARS:
            raise ValueError(f"GMCP_TOKENS_PEPPER must be at least {_MIN_CHARS} characters")
        return value
    path = Path(settings.data_dir) / _FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path)
        if settings.store == "redis":
            logger.warning("no GMCP_TOKENS_PEPPER set with the redis store: replicas must share one pepper")
    value = path.read_text().strip().encode()
    if len(value) < _MIN_CHARS:
        # An empty HMAC key would still "work": refuse it rather than hash every token without one.
        raise ValueError(
            f"{path} is empty or truncated; restore it, or remove it to start over (all tokens die)"
        )
    return value


def _create(path: Path) -> None:
    """Write a new pepper aside, then link it into place: readers never see a half-written file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tokens.pepper.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(_PEPPER_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)  # fails if another process linked theirs first: then theirs is used
        except FileExistsError:
            return
        except OSError:  # a filesystem without hard links: exclusive create, written at once
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd, "w") as handle:
                handle.write(Path(temp).read_text())
        logger.info("generated a new token pepper at %s", path)
    finally:
        os.unlink(temp)
