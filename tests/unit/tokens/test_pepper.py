"""Unit tests of pepper loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.tokens.pepper import load_pepper
from services.tokens.settings import TokenSettings


def test_pepper_from_settings_wins(tmp_path: Path) -> None:
    """A configured pepper is used as is and no file is written."""
    settings = TokenSettings(pepper="p" * 32, data_dir=tmp_path)
    assert load_pepper(settings) == b"p" * 32
    assert not (tmp_path / "tokens.pepper").exists()


def test_generated_pepper_is_private_and_stable(tmp_path: Path) -> None:
    """Without one, a random pepper is written once (mode 0600) and reused by later loads."""
    settings = TokenSettings(data_dir=tmp_path / "data")
    first = load_pepper(settings)
    assert len(first) == 64
    assert (tmp_path / "data" / "tokens.pepper").stat().st_mode & 0o777 == 0o600
    assert load_pepper(settings) == first


def test_short_configured_pepper_is_refused(tmp_path: Path) -> None:
    """A pepper shorter than 16 characters is a configuration error."""
    with pytest.raises(ValueError, match="at least 16"):
        load_pepper(TokenSettings(pepper="short", data_dir=tmp_path))
