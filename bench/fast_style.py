"""Benchmark the Fast styles tab: milliseconds per image at 512 and 1024 px, fp32 vs the fast path.

    python bench/fast_style.py
    python bench/fast_style.py --sizes 512 1024 2048 --repeats 7

Three runtimes, each size and runtime in a fresh subprocess (so peak RSS is its own): fp32 in the
default layout, eager bf16 + channels_last, and the same compiled with ``torch.compile`` (the app's
default; its one-off compilation, ``fast.warm_up()``, is timed separately and excluded). Each: one
untimed pass, then the median of ``--repeats`` timed calls of ``stylize_fast`` (decode excluded: the
input is already an image in memory). The network has random weights scaled to give a trained-like
output (speed does not depend on the values); PSNRs are measured against fp32 on the same input.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine, report, run_worker  # noqa: E402 (after the path set-up)


def _net():
    import torch

    from nst_core.image.fast import TransformerNet
    from nst_core.runtime import seeded

    with seeded(0):
        net = TransformerNet().eval()
    with torch.no_grad():  # a trained-like output range: centred, spread over the 0-255 scale
        net.out.conv.weight.mul_(100)
        net.out.conv.bias.fill_(127.5)
    return net


RUNTIMES = {"fp32": ("fp32", False), "bf16": ("auto", False), "compiled": ("auto", True)}


def worker(size: int, runtime: str, repeats: int) -> dict:
    import numpy as np
    from PIL import Image

    from nst_core.image.fast import Compiler, FastModel, FastSettings, FastStyle, stylize_fast, warm_up

    precision, compiled = RUNTIMES[runtime]
    compiler = Compiler() if compiled else None
    compile_seconds = warm_up(compiler) if compiler else 0.0
    model = FastModel(_net(), FastStyle("bench", "bench", "", value_range=255, channel_order="rgb"))
    photo = Image.open(ROOT / "examples" / "images" / "astronaut.jpg").convert("RGB").resize((size, size))
    settings = FastSettings(precision=precision)
    stylize_fast(photo, model, settings, compiler=compiler)
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = stylize_fast(photo, model, settings, compiler=compiler)
        times.append(time.perf_counter() - started)
    out = ROOT / "out" / f"bench-fast-{size}-{runtime}.png"
    out.parent.mkdir(exist_ok=True)
    result.image.save(out)
    return {"seconds": times, "runtime": result.runtime, "tiles": result.tiles, "image": str(out),
            "pixels": int(np.asarray(result.image).size), "compile_seconds": compile_seconds}


def psnr(a: str, b: str) -> float:
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(a), dtype=np.float64)
    y = np.asarray(Image.open(b), dtype=np.float64)
    return float(10 * np.log10(255**2 / max(np.mean((x - y) ** 2), 1e-12)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        size, precision, repeats = args.worker
        result = worker(int(size), precision, int(repeats))
        report(result)
        return

    print(f"machine: {machine()}")
    print(f"{'size':>5} {'fp32 ms':>8} {'bf16 ms':>8} {'compiled ms':>11} {'speed-up':>9} {'PSNR dB':>8} "
          f"{'fp32 MB':>8} {'compiled MB':>11} {'compile s':>9}  tiles")
    for size in args.sizes:
        runs = {name: run_worker(__file__, str(size), name, str(args.repeats)) for name in RUNTIMES}
        ms = {name: 1000 * statistics.median(run["seconds"]) for name, run in runs.items()}
        slow, quick = runs["fp32"], runs["compiled"]
        print(f"{size:>5} {ms['fp32']:>8.0f} {ms['bf16']:>8.0f} {ms['compiled']:>11.0f} "
              f"{ms['fp32'] / ms['compiled']:>8.2f}x {psnr(slow['image'], quick['image']):>8.1f} "
              f"{slow['peak_rss_mb']:>8.0f} {quick['peak_rss_mb']:>11.0f} {quick['compile_seconds']:>9.1f}"
              f"  {quick['tiles']:>5}", flush=True)
    print(f"fast path: {quick['runtime']}; bf16 eager: {runs['bf16']['runtime']}")


if __name__ == "__main__":
    main()
