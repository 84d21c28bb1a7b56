"""The compiled feed-forward graphs built in a child interpreter, so that a server's warm-up leaves its own free.

Compiling the feed-forward and one-pass networks (Dynamo's tracing and Inductor's code generation: Python, 3-4
minutes on two cores with an empty cache) holds the interpreter lock of the process that does it, and a
request served by that process meanwhile waits for the lock between its own operations (an Image run beside
the warm-up took up to 1.8x its time, at any CPU priority). A child interpreter compiling the same graphs
fills Inductor's on-disk caches instead; the server's own warm-up then loads them (about 25 s instead of
minutes). The child inherits the environment (the same cache folder, kernels and precision) and the calling
thread's CPU priority, and ends when its parent does. ``python -m nst_core.image.compile_cache`` is that child.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .fast import Compiler, FastModel, warm_up
from .fast import warm_up_models as fast_models
from .onepass import warm_up_models as one_pass_models

log = logging.getLogger(__name__)
CHILD_TIMEOUT_S = 1800.0  # a child still compiling after this is stopped: the server's warm-up goes on alone
POLL_S = 0.5
_CHILDREN: set[subprocess.Popen] = set()


def warm_up_models() -> list[FastModel]:
    """What a server compiles ahead of its requests: the feed-forward architecture and both one-pass networks
    (random weights: the graphs take weights and conditions as inputs)."""
    return [*fast_models(), *one_pass_models()]


@atexit.register
def _stop_children() -> None:
    for child in list(_CHILDREN):
        child.kill()
        child.wait(5)


def fill_in_child(*, stop: threading.Event | None = None, timeout_s: float = CHILD_TIMEOUT_S) -> bool:
    """Build :func:`warm_up_models`' graphs in a child interpreter and wait for it; True when it built them all.

    ``stop`` (a server shutting down) ends the child, as does this process's exit. A child that fails says why
    in the log; the caller's own warm-up then compiles in process, as without it."""
    if stop is not None and stop.is_set():
        return False
    root = str(Path(__file__).resolve().parents[2])  # where nst_core is, wherever the server was started from
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errors, env=environment)
        _CHILDREN.add(child)
        log.info("compile cache: compiling in a child (pid %d)", child.pid)
        try:
            while child.poll() is None:
                if (stop is not None and stop.is_set()) or time.monotonic() - started > timeout_s:
                    child.kill()
                    log.info("compile cache: the child was stopped after %.0f s", time.monotonic() - started)
                    return False
                time.sleep(POLL_S)
        finally:
            child.wait()
            _CHILDREN.discard(child)
        if child.returncode < 0:  # killed: this process is exiting, or the system ran short of memory
            log.warning("compile cache: the child was ended by signal %d", -child.returncode)
            return False
        if child.returncode:
            errors.seek(0)
            tail = errors.read()[-2000:].decode(errors="replace")
            log.warning("compile cache: the child failed (exit %s): %s", child.returncode, tail)
            return False
    log.info("compile cache: filled by a child in %.0f s", time.monotonic() - started)
    return True


def _watch_parent(parent: int, stop: threading.Event) -> None:
    """Set ``stop`` once the parent has gone (this process is then adopted by another)."""
    while os.getppid() == parent:
        time.sleep(POLL_S)
    stop.set()


def main() -> int:
    """The child: compile every graph of :func:`warm_up_models`; exit 1 when compiling is unavailable here."""
    logging.basicConfig(level=logging.WARNING)
    stop = threading.Event()
    threading.Thread(target=_watch_parent, args=(os.getppid(), stop), daemon=True).start()
    compiler = Compiler()
    warm_up(compiler, models=warm_up_models(), stop=stop)
    if compiler.error is not None:
        log.error("compiling is unavailable: %s", compiler.error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
