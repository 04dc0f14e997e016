"""`gumloop-mcp catalog diff`: what Gumloop changed that the operation catalog does not yet follow.

Against Gumloop's OpenAPI documents (`--openapi DIR`):

* **added**: a documented operation (method + path) the catalog has no operation for;
* **removed**: a catalog operation taken from the documents (`upstream.source: "openapi"`) that
  they no longer describe;
* **changed**: a fact of a described operation that disagrees (host, parameters, required flags,
  types, enums, body fields, declared response fields) — `compare.compare_catalog` — or a listed
  `upstream.deviations` entry that now agrees.

Against the installed official SDK (`--sdk`, `sdk.sdk_calls`):

* **sdk-added**: an HTTP call (method, host, path template) the SDK makes and the catalog lacks;
* **sdk-removed**: a catalog operation taken from the SDK (`upstream.source: "sdk"`) the SDK no
  longer calls.

Operations the catalog leaves out on purpose are listed with the reason in
`services/gumloop_proxy/excluded_operations.json` (`{"operations": [{"method", "host", "path",
"sdk", "reason"}]}`) and are not drift. Any drift exits 1; a bad input exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .compare import HOSTS, compare_catalog
from .openapi import ContractError, build_contract, load_documents
from .sdk import SdkCalls, SdkError, normalise_path, sdk_calls

__all__ = [
    "DEFAULT_CATALOG",
    "DEFAULT_EXCLUDED",
    "Drift",
    "DriftReport",
    "Exclusion",
    "diff_against_openapi",
    "diff_against_sdk",
    "load_exclusions",
    "main",
]


def _proxy_dir() -> Path:
    """Where the proxy's catalog lives (`services/gumloop_proxy`, in the checkout or installed)."""
    import importlib.util

    spec = importlib.util.find_spec("services.gumloop_proxy")
    if spec is None or not spec.submodule_search_locations:
        return Path("services") / "gumloop_proxy"
    return Path(next(iter(spec.submodule_search_locations)))


_PROXY_DIR: Final = _proxy_dir()
DEFAULT_CATALOG: Final = _PROXY_DIR / "catalog.json"
DEFAULT_EXCLUDED: Final = _PROXY_DIR / "excluded_operations.json"
_HOST_NAMES: Final = {url: name for name, url in HOSTS.items()}
# Hosts only an exclusion names: the stream host's origin (the SDK's voice calls) and the API host's
# origin, where the OAuth endpoints live (/oauth/*, outside /api/v1).
EXCLUSION_HOSTS: Final = ("STREAM_ORIGIN", "ROOT")
KINDS: Final = ("added", "removed", "changed", "sdk-added", "sdk-removed")


class DiffError(ValueError):
    """An input of the diff (catalog, exclusions, documents, SDK) cannot be read."""


@dataclass(frozen=True, order=True)
class Drift:
    """One difference: its kind (`KINDS`), the operation (`METHOD /path` or a catalog name), what."""

    kind: str
    operation: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<12} {self.operation}: {self.detail}"


@dataclass(frozen=True)
class Exclusion:
    """An operation the catalog leaves out on purpose."""

    method: str
    host: str | None
    path: str
    sdk: str | None
    reason: str

    def matches(self, method: str, host: str | None, path: str, owners: Sequence[str] = ()) -> bool:
        if self.sdk and self.sdk in owners:
            return True
        return (
            self.method == method
            and normalise_path(self.path) == normalise_path(path)
            and (self.host is None or host is None or self.host == host)
        )


@dataclass
class DriftReport:
    """Every difference found, sorted by kind then operation."""

    drifts: list[Drift] = field(default_factory=list)
    excluded: int = 0

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for d in self.drifts if d.kind == kind) for kind in KINDS}

    def as_json(self) -> dict[str, Any]:
        return {
            "drift": bool(self.drifts),
            "counts": self.counts(),
            "excluded": self.excluded,
            "drifts": [{"kind": d.kind, "operation": d.operation, "detail": d.detail} for d in self.drifts],
        }


def load_exclusions(path: Path) -> list[Exclusion]:
    """The deliberately excluded operations (none when the file does not exist)."""
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DiffError(f"{path}: not JSON: {exc}") from exc
    entries = raw.get("operations") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise DiffError(f'{path}: expected {{"operations": [...]}}')
    out: list[Exclusion] = []
    for i, entry in enumerate(entries):
        where = f"{path.name}: operations[{i}]"
        if not isinstance(entry, dict):
            raise DiffError(f"{where}: not an object")
        method, op_path, reason = entry.get("method"), entry.get("path"), entry.get("reason")
        if not isinstance(method, str) or not isinstance(op_path, str) or not op_path.startswith("/"):
            raise DiffError(f"{where}: needs method and an absolute path")
        if not isinstance(reason, str) or not reason.strip():
            raise DiffError(f"{where}: needs a reason")
        host, sdk = entry.get("host"), entry.get("sdk")
        if host is not None and host not in {*HOSTS, *EXCLUSION_HOSTS}:
            raise DiffError(
                f"{where}: host must be one of {sorted({*HOSTS, *EXCLUSION_HOSTS})}, got {host!r}"
            )
        if sdk is not None and not isinstance(sdk, str):
            raise DiffError(f"{where}: sdk must be the SDK method (`Class.method`) or absent")
        out.append(Exclusion(method.upper(), host, op_path, sdk or None, reason))
    return out


def diff_against_openapi(
    catalog: Mapping[str, Any], contract: Mapping[str, Any], exclusions: Sequence[Exclusion] = ()
) -> DriftReport:
    """The drift between the catalog and a contract built from Gumloop's OpenAPI documents."""
    report = DriftReport()
    compared = compare_catalog(catalog, contract)
    ours = {(op["method"], normalise_path(op["path"])) for op in catalog["operations"]}
    for key, doc in sorted(contract["operations"].items()):
        host = _HOST_NAMES.get(doc["host"], doc["host"])
        if (doc["method"], normalise_path(doc["path"])) in ours:
            continue
        if any(e.matches(doc["method"], host, doc["path"]) for e in exclusions):
            report.excluded += 1
            continue
        report.drifts.append(
            Drift("added", key, f"documented in {doc['document']} ({host}); not in the catalog")
        )
    documented = {(op["method"], normalise_path(op["path"])) for op in contract["operations"].values()}
    for entry in catalog["operations"]:
        source = (entry.get("upstream") or {}).get("source")
        if source == "openapi" and (entry["method"], normalise_path(entry["path"])) not in documented:
            report.drifts.append(
                Drift("removed", entry["name"], f"{entry['method']} {entry['path']} is no longer documented")
            )
    for d in [*compared.disagreements, *compared.stale_exemptions]:
        report.drifts.append(Drift("changed", d.operation, f"{d.fact}: {d.message}"))
    report.drifts.sort(key=lambda d: (KINDS.index(d.kind), d.operation, d.detail))
    return report


def diff_against_sdk(
    catalog: Mapping[str, Any], calls: SdkCalls, exclusions: Sequence[Exclusion] = ()
) -> DriftReport:
    """The drift between the catalog and the HTTP calls of the official SDK."""
    report = DriftReport()
    ours = {(op["method"], op["host"], normalise_path(op["path"])) for op in catalog["operations"]}
    called = {(c.method, c.host, normalise_path(c.path)) for c in calls.calls}
    for call, owners in sorted(calls.calls.items()):
        if (call.method, call.host, normalise_path(call.path)) in ours:
            continue
        if any(e.matches(call.method, call.host, call.path, owners) for e in exclusions):
            report.excluded += 1
            continue
        where = f"{call.method} {call.path}" + ("" if call.host == "API" else f" ({call.host})")
        report.drifts.append(
            Drift("sdk-added", where, f"called by gumloop {calls.version} {', '.join(owners)}")
        )
    for entry in catalog["operations"]:
        upstream = entry.get("upstream") or {}
        if upstream.get("source") != "sdk":
            continue
        if (entry["method"], entry["host"], normalise_path(entry["path"])) not in called:
            report.drifts.append(
                Drift(
                    "sdk-removed",
                    entry["name"],
                    f"{entry['method']} {entry['path']} ({entry['host']}) is not called by gumloop "
                    f"{calls.version} (catalog reference: {upstream.get('reference', 'none')})",
                )
            )
    for problem in calls.unresolved:
        report.drifts.append(Drift("sdk-added", "unreadable call", problem))
    report.drifts.sort(key=lambda d: (KINDS.index(d.kind), d.operation, d.detail))
    return report


def add_arguments(parser: Any) -> None:
    """The options of `catalog diff` (also used by `python -m gumloop_mcp.contract.diff`)."""
    parser.add_argument("--openapi", type=Path, metavar="DIR", help="a folder of Gumloop's OpenAPI documents")
    parser.add_argument(
        "--sdk", action="store_true", help="compare with the installed official SDK's (`gumloop`) HTTP calls"
    )
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="the operation catalog JSON")
    parser.add_argument(
        "--excluded",
        type=Path,
        default=DEFAULT_EXCLUDED,
        help="operations left out on purpose (default: excluded_operations.json beside the catalog)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")


def run(args: Any) -> int:
    """Execute `catalog diff`; 0 without drift, 1 with drift, 2 on bad input."""
    import sys

    if args.openapi is None and not args.sdk:
        print("gumloop-mcp catalog diff: give --openapi DIR and/or --sdk", file=sys.stderr)
        return 2
    try:
        catalog = json.loads(Path(args.catalog).read_text(encoding="utf-8"))
        exclusions = load_exclusions(Path(args.excluded))
        report = DriftReport()
        if args.openapi is not None:
            contract = build_contract(load_documents(Path(args.openapi)))
            found = diff_against_openapi(catalog, contract, exclusions)
            report.drifts += found.drifts
            report.excluded += found.excluded
        if args.sdk:
            found = diff_against_sdk(catalog, sdk_calls(), exclusions)
            report.drifts += found.drifts
            report.excluded += found.excluded
    except (OSError, json.JSONDecodeError, ContractError, SdkError, DiffError) as exc:
        print(f"gumloop-mcp catalog diff: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for drift in report.drifts:
            print(drift)
        counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items() if n)
        print(f"drift: {counts}" if report.drifts else "no drift", f"({report.excluded} excluded on purpose)")
    return 1 if report.drifts else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m gumloop_mcp.contract.diff --openapi DIR [--sdk]`."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
