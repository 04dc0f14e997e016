"""Files that hold secrets or records: directories 0700, files 0600, whatever the umask says.

The services keep hashed tokens, encrypted credentials and keys under their data directory; a
default umask (0022) would leave the SQLite files world-readable. SQLite gives its -wal and -shm
files the permissions of the database file, so creating that file 0600 first covers all three.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Create `path` (and missing parents) and make it 0700; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` if missing (empty) in a 0700 directory and make it 0600, before anyone opens it.

    For a SQLite database: call it before `sqlite3.connect`, so the file and its journals are 0600.
    """
    private_directory(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    os.close(fd)
    os.chmod(path, PRIVATE_FILE_MODE)
    for suffix in ("-wal", "-shm", "-journal"):  # left by an earlier run with a wider mode
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), PRIVATE_FILE_MODE)
    return path
