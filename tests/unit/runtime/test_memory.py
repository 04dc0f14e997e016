"""release_free_memory: glibc's malloc_trim where it exists, nothing elsewhere."""

from __future__ import annotations

import platform

from gumloop_mcp.runtime import release_free_memory


def test_it_trims_on_glibc_and_says_so() -> None:
    assert release_free_memory() is (platform.libc_ver()[0] == "glibc")
    assert release_free_memory() is (platform.libc_ver()[0] == "glibc")  # again: harmless
