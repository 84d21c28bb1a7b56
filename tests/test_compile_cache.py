"""The warm-up's child interpreter: it is stopped with the server, and a failure is reported, not raised.

The child's real work (compiling every feed-forward graph) takes minutes on an empty cache; the real child runs
in ``test_app.py::test_python_app_py_serves_offline_and_a_sigterm_stops_it_cleanly``. Here stand-in children
(the same ``Popen`` call, another program) make each ending happen on cue.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nst_core.image import compile_cache


@pytest.fixture
def child_runs(monkeypatch):
    """Make :func:`compile_cache.fill_in_child` start ``python -c <program>`` instead; yields the started ones."""
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def use(program: str) -> None:
        def popen(args, **kwargs):
            assert args[1:] == ["-m", "nst_core.image.compile_cache"]
            started.append(real_popen([sys.executable, "-c", program], **kwargs))
            return started[-1]
        monkeypatch.setattr(compile_cache.subprocess, "Popen", popen)

    monkeypatch.setattr(compile_cache, "POLL_S", 0.05)
    yield use, started


def test_a_child_that_compiles_fills_and_one_that_fails_says_why(child_runs, caplog):
    use, started = child_runs
    use("import os, nst_core.image.compile_cache; raise SystemExit(0 if os.environ['PYTHONPATH'] else 2)")
    assert compile_cache.fill_in_child()
    use("import sys; sys.stderr.write('no C++ compiler here'); raise SystemExit(1)")
    with caplog.at_level("WARNING"):
        assert not compile_cache.fill_in_child()
    assert "no C++ compiler here" in caplog.text and "exit 1" in caplog.text
    assert all(child.returncode is not None for child in started) and not compile_cache._CHILDREN


@pytest.mark.parametrize("ending", ["server stopping", "time out", "server exit"])
def test_a_child_still_compiling_ends_with_the_server(child_runs, ending):
    use, started = child_runs
    use("import time; time.sleep(120)")
    stop = threading.Event()
    filled = []
    waiting = threading.Thread(target=lambda: filled.append(compile_cache.fill_in_child(
        stop=stop, timeout_s=1.0 if ending == "time out" else 60.0)))
    began = time.monotonic()
    waiting.start()
    while not started:
        time.sleep(0.05)
    time.sleep(0.3)
    assert started[0].poll() is None  # compiling
    if ending == "server stopping":
        stop.set()
    elif ending == "server exit":
        compile_cache._stop_children()  # what the interpreter's exit runs
    waiting.join(10)
    assert filled == [False] and time.monotonic() - began < 5
    assert started[0].returncode is not None and not Path(f"/proc/{started[0].pid}").exists()
