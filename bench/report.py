"""Prints the benchmark results as plain-text tables."""

from __future__ import annotations

from typing import Any, TextIO

from bench.context import print_context


def _table(out: TextIO, title: str, header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(header)]
    out.write(f"\n{title}\n")
    out.write("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")


def print_report(results: dict[str, Any], out: TextIO) -> None:
    m = results["machine"]
    out.write(
        f"gumloop-mcp benchmarks, {m['date']}, {m['cores']} cores, Python {m['python']}, {m['platform']}\n"
    )
    if results.get("services_python"):
        out.write(f"services run on {results['services_python']}\n")
    c = results["loadgen_ceiling"]
    per_level = ", ".join(f"c={r['concurrency']}: {r['throughput_rps']}" for r in c.get("levels", [c]))
    out.write(f"load generator ceiling ({c.get('endpoint', 'emulator health')}), req/s: {per_level}\n")
    o = results["overhead"]
    _table(
        out,
        "1. Overhead of one light read (list teams), concurrency 1",
        ["path", "p50 ms", "p90 ms", "p99 ms", "p50 x direct", "p99 x direct"],
        [
            [name, o[name]["p50_ms"], o[name]["p90_ms"], o[name]["p99_ms"],
             o[name].get("p50_ratio_to_direct", 1.0), o[name].get("p99_ratio_to_direct", 1.0)]
            for name in ("direct_emulator", "gumloop_mcp", "fastmcp_peer")
        ],
    )  # fmt: skip
    out.write(f"   gumloop-mcp p50 / FastMCP p50 = {o['gumloop_mcp']['p50_ratio_to_peer']}\n")
    rows = []
    for row in results["throughput"]:
        for name in ("stateless", "session", "fastmcp_peer"):
            r = row[name]
            ratio = row.get(f"{name}_ratio_to_peer", 1.0)
            rows.append(
                [
                    row["concurrency"],
                    name,
                    r["throughput_rps"],
                    ratio,
                    r["p50_ms"],
                    r["p99_ms"],
                    r["error_rate"],
                    "yes" if row.get("bounded_by_loadgen") else "no",
                ]
            )
    _table(
        out,
        "2-3. Throughput (tools/call per second)",
        ["conc", "path", "req/s", "x peer", "p50 ms", "p99 ms", "errors", "near gen ceiling"],
        rows,
    )
    t = results["token_resolution"]
    _table(
        out,
        "4. Token resolution through the façade (server/discover)",
        [
            "cold p50 ms",
            "warm p50 ms",
            "cold/warm",
            "revoke -> last accepted, max ms",
            "revoke -> both replicas deny, max ms",
        ],
        [
            [
                t["cold_p50_ms"],
                t["warm_p50_ms"],
                t["cold_to_warm_ratio"],
                t["revocation_max_ms"],
                t["revocation_denied_both_max_ms"],
            ]
        ],
    )
    cc = results["context_cost"]
    _table(
        out,
        "5. Context cost of tools/list",
        ["scope", "tools", "bytes", "~tokens", "largest tool", "its bytes"],
        [
            [k, v["tools"], v["bytes"], v["est_tokens"], v["largest_tool"], v["largest_tool_bytes"]]
            for k, v in cc.items()
        ],
    )
    if "context_presets" in results:
        out.write("\n5b. Context cost of tools/list per scope preset (committed catalog, model tokens)\n")
        print_context(results["context_presets"], out)
    idle = results.get("memory_idle", {}).get("per_process") or {
        name: {"rss": rss} for name, rss in results["memory_idle_mib"].items()
    }
    loaded = results["memory_loaded"]
    names = sorted(set(idle) | set(loaded["with_streams_mib"]))
    _table(
        out,
        f"6. Memory (MiB): idle RSS, PSS and USS; RSS with {loaded['count']} sessions, with "
        f"{loaded['count']} open SSE streams",
        ["process", "idle RSS", "idle PSS", "idle USS", "sessions RSS", "streams RSS"],
        [
            [
                n,
                idle.get(n, {}).get("rss", "-"),
                idle.get(n, {}).get("pss", "-"),
                idle.get(n, {}).get("uss", "-"),
                loaded["with_sessions_mib"].get(n, "-"),
                loaded["with_streams_mib"].get(n, "-"),
            ]
            for n in names
        ],
    )
    total = results.get("memory_idle", {}).get("together", {})
    if total:
        out.write(
            f"   idle, tokens + proxy + facade together: RSS {total.get('rss', '-')}, "
            f"PSS {total.get('pss', '-')} (shared library pages counted once), USS {total.get('uss', '-')}\n"
        )
    out.write(f"   streams opened: {loaded['streams_opened']}, errors: {loaded['stream_errors']}\n")
