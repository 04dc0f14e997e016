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


@pytest.mark.parametrize("content", ["", "\n", "abc123"])
def test_an_empty_or_truncated_pepper_file_is_refused_not_used(tmp_path: Path, content: str) -> None:
    """A pepper file left empty (a crash, a race with another replica) never becomes a weak HMAC key."""
    (tmp_path / "tokens.pepper").write_text(content)
    with pytest.raises(ValueError, match="tokens.pepper"):
        load_pepper(TokenSettings(data_dir=tmp_path))


def test_a_new_pepper_file_appears_complete_and_private(tmp_path: Path) -> None:
    """The file is written aside and linked into place: it is never visible half-written, and is 0600."""
    pepper = load_pepper(TokenSettings(data_dir=tmp_path))
    path = tmp_path / "tokens.pepper"
    assert len(pepper) == 64 and path.read_text().strip().encode() == pepper
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.pepper"]
