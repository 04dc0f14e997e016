"""services/gumloop_proxy/excluded_operations.json: the Gumloop calls left out of the catalog on purpose,
each with its reason, none of them also a catalog operation."""

from __future__ import annotations

import json
from pathlib import Path

from gumloop.oauth import OAuth
from gumloop.resources.voice import Voice

from services.gumloop_proxy.catalog import default_catalog

EXCLUDED = Path(__file__).parents[3] / "services" / "gumloop_proxy" / "excluded_operations.json"


def _entries() -> list[dict[str, str]]:
    return list(json.loads(EXCLUDED.read_text())["operations"])


def test_every_exclusion_names_its_route_sdk_method_and_reason() -> None:
    """Method, host, path, the SDK method(s) and a reason of more than a few words, one route each."""
    entries = _entries()
    assert entries
    for entry in entries:
        assert set(entry) == {"method", "host", "path", "sdk", "reason"}, entry
        assert entry["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE"} and entry["path"].startswith("/")
        assert len(entry["reason"].split()) >= 8, entry
    routes = [(e["method"], e["host"], e["path"]) for e in entries]
    assert len(routes) == len(set(routes))


def test_voice_sessions_and_oauth_are_excluded_and_no_exclusion_is_in_the_catalog() -> None:
    """Every public method of the SDK's Voice and OAuth resources is accounted for, and no catalog
    operation serves an excluded route."""
    named = {part.strip() for e in _entries() for part in e["sdk"].split(",")}
    voice = {f"voice.{m}" for m in vars(Voice) if not m.startswith("_")}
    oauth = {f"oauth.{m}" for m in vars(OAuth) if not m.startswith("_")}
    assert voice | oauth <= named, sorted((voice | oauth) - named)
    catalog = {(op.method, op.path) for op in default_catalog().operations.values()}
    assert not catalog & {(e["method"], e["path"]) for e in _entries()}
