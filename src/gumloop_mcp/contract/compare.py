"""Our operation catalog held to Gumloop's contract: every documented fact must agree.

A catalog operation is *described* when the contract has an operation with the same method and
path. Every fact of a described operation is compared (server host; each path/query parameter's
presence, location, required flag, type and enum; each JSON or multipart body field likewise,
nested properties and array items included; account fields filled by the proxy; the response
fields the catalog declares in `returns`). A disagreement names the operation and the fact
(`query.state.enum`, `body.config.approval_mode.enum`, `returns.log`...).

The catalog may knowingly differ (it follows Gumloop's official SDK where the OpenAPI documents
are older, or leaves out a field the proxy must not send): such facts are listed in the
operation's `upstream.deviations` with the reason, and are then expected to disagree (an entry
whose fact agrees is reported as stale, so the list stays true).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["HOSTS", "Disagreement", "Report", "compare_catalog"]

# The catalog's host names and the server URLs of Gumloop's documents.
HOSTS: Final = {"API": "https://api.gumloop.com/api/v1", "STREAM": "https://ws.gumloop.com/api/v1"}
_ACCOUNT: Final = frozenset({"user_id", "project_id", "team_id"})
_JSON: Final = "application/json"
_MULTIPART: Final = "multipart/form-data"


@dataclass(frozen=True, order=True)
class Disagreement:
    """One fact on which the catalog and Gumloop's documents differ."""

    operation: str
    fact: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.fact}: {self.message}"


@dataclass
class Report:
    """The outcome of a comparison."""

    # catalog operation name -> contract key ("METHOD /path") it was checked against
    described: dict[str, str] = field(default_factory=dict)
    # catalog operations the documents do not describe
    undescribed: list[str] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    # facts listed in upstream.deviations that in fact agree with the documents
    stale_exemptions: list[Disagreement] = field(default_factory=list)


def compare_catalog(catalog: Mapping[str, Any], contract: Mapping[str, Any]) -> Report:
    """Compare a parsed catalog document with a parsed contract (see `openapi.build_contract`)."""
    report = Report()
    documented: dict[tuple[str, str], Mapping[str, Any]] = {}
    for key, op in contract["operations"].items():
        documented[(op["method"], op["path"])] = {**op, "key": key}
    shared = catalog.get("shared") or {}
    for entry in catalog["operations"]:
        name = entry["name"]
        doc = documented.get((entry["method"], entry["path"]))
        # a streaming twin of a documented non-streaming route (same method and path, other host)
        if doc is None or (HOSTS.get(entry["host"]) != doc["host"] and _has_twin(catalog, entry, doc)):
            report.undescribed.append(name)
            continue
        report.described[name] = doc["key"]
        found = {d.fact: d for d in _compare_operation(entry, doc, shared)}
        exempt: Mapping[str, str] = (entry.get("upstream") or {}).get("deviations") or {}
        report.disagreements.extend(d for fact, d in found.items() if fact not in exempt)
        report.stale_exemptions.extend(
            Disagreement(name, fact, "listed in upstream.deviations but agrees with the documents")
            for fact in exempt
            if fact not in found
        )
    report.disagreements.sort()
    report.undescribed.sort()
    return report


def _has_twin(catalog: Mapping[str, Any], entry: Mapping[str, Any], doc: Mapping[str, Any]) -> bool:
    return any(
        other is not entry
        and other["method"] == entry["method"]
        and other["path"] == entry["path"]
        and HOSTS.get(other["host"]) == doc["host"]
        for other in catalog["operations"]
    )


def _inline(schema: Any, shared: Mapping[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$shared" in schema:
            base = shared.get(schema["$shared"], {})
            schema = {**base, **{k: v for k, v in schema.items() if k != "$shared"}}
        return {k: _inline(v, shared) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, shared) for v in schema]
    return schema


def _compare_operation(
    entry: Mapping[str, Any], doc: Mapping[str, Any], shared: Mapping[str, Any]
) -> Iterable[Disagreement]:
    name = entry["name"]
    out: list[Disagreement] = []

    def differ(fact: str, message: str) -> None:
        out.append(Disagreement(name, fact, message))

    if HOSTS.get(entry["host"]) != doc["host"]:
        differ("host", f"catalog {entry['host']} ({HOSTS.get(entry['host'])}), documents {doc['host']}")
    params = [{**p, "schema": _inline(p.get("schema") or {}, shared)} for p in entry.get("params") or []]
    account = set(entry.get("account_fields") or [])
    fixed_query = dict(entry.get("fixed_query") or {})

    # path and query parameters
    documented_params = doc["parameters"]
    for wire, fact_doc in documented_params.items():
        where = fact_doc["in"]
        if where not in ("path", "query"):
            continue
        fact = f"{where}.{wire}"
        if wire in _ACCOUNT:
            if wire != "team_id" and wire not in account:
                differ(fact, "documented; the catalog does not fill it from the account (account_fields)")
            continue
        if wire in fixed_query:
            _compare_schema(fact, {"type": "string", "enum": [fixed_query[wire]]}, fact_doc["schema"], differ,
                            fixed=True)  # fmt: skip
            continue
        ours = _param(params, wire, ("path", "query"))
        if ours is None:
            differ(fact, "documented; missing from the catalog")
            continue
        if ours["in"] != where:
            differ(fact, f"documented in {where}, catalog sends it in {ours['in']}")
        if bool(ours.get("required")) != fact_doc["required"]:
            differ(
                f"{fact}.required", f"catalog {bool(ours.get('required'))}, documents {fact_doc['required']}"
            )
        _compare_schema(fact, ours["schema"], fact_doc["schema"], differ)
    for p in params:
        wire = p.get("wire_name") or p["name"]
        if p["in"] in ("path", "query") and wire not in documented_params:
            differ(f"{p['in']}.{wire}", "in the catalog; not documented")
    for wire in fixed_query:
        if wire not in documented_params:
            differ(f"query.{wire}", "fixed by the catalog; not documented")

    # request body: JSON fields or multipart parts
    body = doc.get("request_body") or {"content": {}}
    json_schema = body["content"].get(_JSON)
    form_schema = body["content"].get(_MULTIPART)
    body_params = [p for p in params if p["in"] == "body"]
    form_params = [p for p in params if p["in"] in ("multipart_field", "multipart_file")]
    if body_params or json_schema is not None:
        _compare_body("body", body_params, json_schema, entry, account, differ)
    if form_params or form_schema is not None:
        _compare_body("multipart", form_params, form_schema, entry, account, differ)

    # response fields the catalog declares
    returns: Mapping[str, str] = entry.get("returns") or {}
    answers = [
        schema
        for status, response in doc["responses"].items()
        if status.startswith("2")
        for schema in [response["content"].get(_JSON)]
        if schema is not None
    ]
    for field_name, field_type in sorted(returns.items()):
        fact = f"returns.{field_name}"
        candidates = [
            a["properties"][field_name] for a in answers if field_name in (a.get("properties") or {})
        ]
        if not answers:
            differ(fact, "declared by the catalog; the documents declare no JSON answer")
        elif not candidates:
            differ(fact, "declared by the catalog; not a documented response field")
        elif not any(_types(c) in (set(), {field_type}) for c in candidates):
            documented_types = sorted({t for c in candidates for t in _types(c)})
            differ(fact, f"catalog type {field_type}, documents {documented_types}")
    return out


def _param(params: list[dict[str, Any]], wire: str, locations: tuple[str, ...]) -> dict[str, Any] | None:
    return next(
        (p for p in params if (p.get("wire_name") or p["name"]) == wire and p["in"] in locations), None
    )


def _compare_body(
    prefix: str,
    ours: list[dict[str, Any]],
    schema: Mapping[str, Any] | None,
    entry: Mapping[str, Any],
    account: set[str],
    differ: Any,
) -> None:
    if schema is None:
        differ(prefix, f"the catalog sends {prefix} fields; the documents declare no {prefix} body")
        return
    whole = next((p for p in ours if p.get("wire_name") == "*"), None)
    if whole is not None:  # one argument is the whole body: compare it with the body schema
        _compare_schema(f"{prefix}.*", whole["schema"], schema, differ)
        return
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    for wire, sub in properties.items():
        fact = f"{prefix}.{wire}"
        as_argument = any((p.get("wire_name") or p["name"]) == wire for p in ours)
        if wire in _ACCOUNT and not as_argument:
            filled = wire in account or (wire == "team_id" and entry.get("team_id_in_body"))
            if not filled:
                differ(fact, "documented; the catalog does not fill it from the account")
            continue
        mine = next((p for p in ours if (p.get("wire_name") or p["name"]) == wire), None)
        if mine is None:
            differ(fact, "documented; missing from the catalog")
            continue
        if bool(mine.get("required")) != (wire in required):
            differ(f"{fact}.required", f"catalog {bool(mine.get('required'))}, documents {wire in required}")
        if prefix == "multipart" and mine["in"] == "multipart_file":
            if sub.get("format") != "binary" and (sub.get("items") or {}).get("format") != "binary":
                differ(fact, "the catalog uploads a file; the documents do not declare binary content")
            continue
        _compare_schema(fact, mine["schema"], sub, differ)
    open_ended = schema.get("additionalProperties", False) is not False  # {} or true: other fields allowed
    for p in ours:
        wire = p.get("wire_name") or p["name"]
        if wire not in properties and not open_ended:
            differ(f"{prefix}.{wire}", "in the catalog; not documented")
    for wire in sorted(account):
        if wire not in properties and entry["method"] not in ("GET", "DELETE"):
            differ(f"{prefix}.{wire}", "filled from the account by the catalog; not documented")
    if entry.get("team_id_in_body") and "team_id" not in properties:
        differ(f"{prefix}.team_id", "sent in the body by the catalog (team_id_in_body); not documented")


def _types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a schema allows, "null" left out (nullability is not compared)."""
    raw = schema.get("type")
    types = {raw} if isinstance(raw, str) else set(raw or [])
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key) or []:
            sub_types = _types(sub)
            if not sub_types:
                return set()  # an untyped alternative allows anything
            types |= sub_types
    types.discard("null")
    if "number" in types:
        types.discard("integer")  # integers are numbers
    return types


def _compare_schema(fact: str, ours: Mapping[str, Any], theirs: Mapping[str, Any], differ: Any, *,
                    fixed: bool = False) -> None:  # fmt: skip
    our_types, their_types = _types(ours), _types(theirs)
    if our_types and their_types and our_types != their_types and not fixed:
        differ(f"{fact}.type", f"catalog {sorted(our_types)}, documents {sorted(their_types)}")
    our_enum, their_enum = ours.get("enum"), theirs.get("enum")
    if fixed:
        if their_enum is not None and not set(our_enum or []) <= set(their_enum):
            differ(f"{fact}.enum", f"catalog fixes {our_enum}, documents allow {their_enum}")
    elif our_enum is not None or their_enum is not None:
        if their_enum is None:
            differ(f"{fact}.enum", f"catalog allows only {our_enum}; the documents do not restrict it")
        elif our_enum is None:
            differ(f"{fact}.enum", f"documents allow only {their_enum}; the catalog does not restrict it")
        elif set(our_enum) != set(their_enum):
            differ(
                f"{fact}.enum",
                f"catalog {sorted(map(str, our_enum))}, documents {sorted(map(str, their_enum))}",
            )
    our_props, their_props = ours.get("properties"), theirs.get("properties")
    if isinstance(our_props, dict) and isinstance(their_props, dict):
        their_required, our_required = set(theirs.get("required") or []), set(ours.get("required") or [])
        for key, sub in their_props.items():
            if key in our_props:
                _compare_schema(f"{fact}.{key}", our_props[key], sub, differ)
                if (key in our_required) != (key in their_required):
                    differ(
                        f"{fact}.{key}.required",
                        f"catalog {key in our_required}, documents {key in their_required}",
                    )
            elif ours.get("additionalProperties") is False:
                differ(f"{fact}.{key}", "documented; the catalog's schema refuses it")
        for key in our_props:
            if key not in their_props:
                differ(f"{fact}.{key}", "in the catalog's schema; not documented")
    our_items, their_items = ours.get("items"), theirs.get("items")
    if isinstance(our_items, dict) and isinstance(their_items, dict):
        _compare_schema(f"{fact}[]", our_items, their_items, differ)


def fidelity_table(catalog: Mapping[str, Any], contract: Mapping[str, Any]) -> str:
    """The README's "Upstream fidelity" table: per Gumloop source, the operations checked against it.

    `*` marks an operation with deviations (facts the catalog states differently, with reasons in
    `upstream.deviations`), `?` one with inferred facts Gumloop does not document (`upstream.inferred`).
    """
    report = compare_catalog(catalog, contract)
    rows: dict[str, list[str]] = {}
    for entry in catalog["operations"]:
        upstream = entry.get("upstream") or {}
        name = (
            entry["name"]
            + ("*" if upstream.get("deviations") else "")
            + ("?" if upstream.get("inferred") else "")
        )
        if entry["name"] in report.described:
            document = contract["operations"][report.described[entry["name"]]]["document"]
            source = f"OpenAPI `{document}`"
        elif upstream.get("source") == "sdk":
            source = "official SDK `gumloop` 0.5.9 only"
        else:
            source = "neither (our notes, `gumloop-api.md`)"
        rows.setdefault(source, []).append(name)
    lines = ["| Gumloop source | operations checked against it |", "|---|---|"]
    lines += [f"| {source} | {', '.join(sorted(names))} |" for source, names in sorted(rows.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m gumloop_mcp.contract.compare CATALOG CONTRACT [--table]`: the disagreements (exit 1
    when there are any), or the README's fidelity table."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Compare an operation catalog with Gumloop's contract.")
    parser.add_argument("catalog", type=Path)
    parser.add_argument("contract", type=Path)
    parser.add_argument("--table", action="store_true", help="print the README's upstream fidelity table")
    args = parser.parse_args(argv)
    catalog = json.loads(args.catalog.read_text(encoding="utf-8"))
    contract = json.loads(args.contract.read_text(encoding="utf-8"))
    if args.table:
        print(fidelity_table(catalog, contract), end="")
        return 0
    report = compare_catalog(catalog, contract)
    for line in [*report.disagreements, *report.stale_exemptions]:
        print(line)
    checked, undescribed = len(report.described), len(report.undescribed)
    print(f"{checked} operations checked, {undescribed} not described by the documents")
    return 1 if report.disagreements or report.stale_exemptions else 0


if __name__ == "__main__":
    raise SystemExit(main())
