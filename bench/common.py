"""What every benchmark script shares: a line about the machine, and workers in fresh subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys


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


def report(result: dict) -> None:
    """A worker's last line: its result as JSON, with the process's peak resident memory."""
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_worker(script: str, *args: str) -> dict:
    """Run ``script --worker args`` in a fresh interpreter (so peak memory is its own); return its result."""
    output = subprocess.run([sys.executable, script, "--worker", *args], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])
