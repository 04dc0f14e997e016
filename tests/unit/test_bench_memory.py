"""bench.memory's arithmetic: the together sums (PSS counted once per page) and the median of runs."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("psutil")  # the bench extra

from bench.memory import _median, memory_of, together  # noqa: E402


def test_together_sums_the_three_services_only_and_each_kind_apart() -> None:
    per_process = {
        "emulator": {"rss": 70.0, "pss": 50.0, "uss": 45.0},
        "facade": {"rss": 80.0, "pss": 50.5, "uss": 45.0},
        "proxy": {"rss": 84.0, "pss": 53.0, "uss": 46.0},
        "tokens": {"rss": 61.0, "pss": 36.5, "uss": 32.0},
    }
    assert together(per_process) == {"rss": 225.0, "pss": 140.0, "uss": 123.0}


def test_together_leaves_out_a_kind_a_service_lacks() -> None:
    per_process = {
        "facade": {"rss": 80.0, "uss": 45.0},
        "proxy": {"rss": 84.0, "pss": 53.0, "uss": 46.0},
        "tokens": {"rss": 61.0, "pss": 36.5, "uss": 32.0},
    }
    assert together(per_process) == {"rss": 225.0, "uss": 123.0}


def test_the_median_of_runs_is_per_process_and_kind() -> None:
    runs = [
        {
            "per_process": {
                name: {"rss": rss, "pss": rss / 2, "uss": rss / 3} for name in ("tokens", "proxy", "facade")
            }
        }
        for rss in (60.0, 66.0, 63.0)
    ]
    result = _median(runs)
    assert result["per_process"]["proxy"] == {"rss": 63.0, "pss": 31.5, "uss": 21.0}
    assert result["together"]["rss"] == 189.0


def test_a_process_reads_its_own_memory() -> None:
    import psutil

    mine = memory_of(psutil.Process())
    assert mine["rss"] > 5 and 0 < mine["uss"] <= mine["rss"]
    assert "pss" not in mine or mine["uss"] <= mine["pss"] <= mine["rss"]
    assert not any(math.isnan(v) for v in mine.values())
