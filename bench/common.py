"""What every benchmark script shares: a line about the machine, and workers in fresh subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

PAGE = os.sysconf("SC_PAGE_SIZE")


def machine() -> str:
    import torch

    from nst_core.runtime import cpu_supports_bf16

    cpu = platform.processor() or "cpu"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        fields = dict(line.split(":", 1) for line in info.read().split("\n\n")[0].splitlines() if ":" in line)
        fields = {key.strip(): value.strip() for key, value in fields.items()}
        family, model = fields.get("cpu family", "?"), fields.get("model", "?")
        cpu = f"{fields.get('model name', cpu)} (family {family}, model {model})"
    return (f"{cpu}; {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"kernels {torch.backends.cpu.get_cpu_capability()}, "
            f"bf16 kernels: {cpu_supports_bf16()}, load average {os.getloadavg()[0]:.2f}")


def resident_mb(pid: int | str = "self") -> float:
    """A process's resident memory now, from /proc."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


@contextlib.contextmanager
def peak_resident_mb(pid: int | str = "self", every_s: float = 0.002) -> Iterator[Callable[[], float]]:
    """Samples a process's resident memory on a thread while the block runs (and only then: a sampler left
    running would load the CPU of whatever runs next); yields a function that gives the peak so far."""
    peak, done = [resident_mb(pid)], threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            with contextlib.suppress(OSError):  # the process ended
                peak[0] = max(peak[0], resident_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0]
    finally:
        done.set()
        sampler.join()


def report(result: dict) -> None:
    """A worker's last line: its result as JSON, with the process's peak resident memory."""
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_worker(script: str, *args: str) -> dict:
    """Run ``script --worker args`` in a fresh interpreter (so peak memory is its own); return its result."""
    output = subprocess.run([sys.executable, script, "--worker", *args], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])
