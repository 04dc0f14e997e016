"""bench.profile_call's py-spy summary: the idle event-loop poll is left out, shares are of the work."""

from pathlib import Path

import pytest

# bench/ needs the `bench` extra (psutil): `EXTRAS=dev,bench scripts/bootstrap`.
pytest.importorskip("psutil")
from bench.profile_call import summarize  # noqa: E402

_LOOP = "_run_module_as_main (<frozen runpy>:198);Runner.run (asyncio/runners.py:118)"


def test_the_uvloop_poll_is_idle_and_shares_are_of_the_busy_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    collapsed = tmp_path / "stateless-proxy.txt"
    collapsed.write_text(
        f"{_LOOP} 60\n"  # uvloop polling in C under the Runner frame: idle
        f"{_LOOP};_invoke (services/gumloop_proxy/servicer.py:10);send (aiohttp/http_writer.py:5) 30\n"
        f"{_LOOP};_invoke (services/gumloop_proxy/servicer.py:10) 10\n"
        "Thread._bootstrap (threading.py:1);Thread.run (threading.py:2) 25\n"
    )
    summarize(collapsed, "proxy", calls=10)
    out = capsys.readouterr().out
    assert "proxy: 40 busy samples (4.00 per call; 85 idle left out)" in out
    assert "100.0   25.0  _invoke (gumloop_proxy/servicer.py)" in out
    assert "75.0   75.0  send (aiohttp/http_writer.py)" in out


def test_a_process_that_only_waited_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    collapsed = tmp_path / "stateless-tokens.txt"
    collapsed.write_text(f"{_LOOP} 200\n")
    summarize(collapsed, "tokens", calls=10)
    assert "tokens: no busy samples (200 idle left out)" in capsys.readouterr().out
