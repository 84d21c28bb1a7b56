"""Benchmark the Fast styles tab: milliseconds per image at 512 and 1024 px, fp32 vs the fast path.

    python bench/fast_style.py
    python bench/fast_style.py --sizes 512 1024 2048 --repeats 7

Each size and precision runs in a fresh subprocess (so peak RSS is its own): one warm-up pass, then the
median of ``--repeats`` timed calls of ``stylize_fast`` (decode excluded: the input is already an
image in memory). The network has random weights scaled to give a trained-like output (speed does not
depend on the values); the PSNR of the fast path against fp32 is measured on the same input.
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

    torch.manual_seed(0)
    net = TransformerNet().eval()
    with torch.no_grad():  # a trained-like output range: centred, spread over the 0-255 scale
        net.out.conv.weight.mul_(100)
        net.out.conv.bias.fill_(127.5)
    return net


def worker(size: int, precision: str, repeats: int) -> dict:
    import numpy as np
    from PIL import Image

    from nst_core.image.fast import FastStyle, stylize_fast

    style = FastStyle("bench", "bench", "", value_range=255, channel_order="rgb")
    photo = Image.open(ROOT / "examples" / "images" / "astronaut.jpg").convert("RGB").resize((size, size))
    net = _net()
    stylize_fast(photo, net, style, precision=precision)
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = stylize_fast(photo, net, style, precision=precision)
        times.append(time.perf_counter() - started)
    out = ROOT / "out" / f"bench-fast-{size}-{precision}.png"
    out.parent.mkdir(exist_ok=True)
    result.image.save(out)
    return {"seconds": times, "runtime": result.runtime, "tiles": result.tiles, "image": str(out),
            "pixels": int(np.asarray(result.image).size)}


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
    print(f"{'size':>5} {'fp32 ms':>8} {'fast ms':>8} {'speed-up':>9} {'PSNR dB':>8} {'fp32 MB':>8} {'fast MB':>8}"
          f"  tiles  fast path")
    for size in args.sizes:
        slow = run_worker(__file__, str(size), "fp32", str(args.repeats))
        quick = run_worker(__file__, str(size), "auto", str(args.repeats))
        slow_ms = 1000 * statistics.median(slow["seconds"])
        quick_ms = 1000 * statistics.median(quick["seconds"])
        print(f"{size:>5} {slow_ms:>8.0f} {quick_ms:>8.0f} {slow_ms / quick_ms:>8.2f}x "
              f"{psnr(slow['image'], quick['image']):>8.1f} {slow['peak_rss_mb']:>8.0f} {quick['peak_rss_mb']:>8.0f}"
              f"  {quick['tiles']:>5}  {quick['runtime']}", flush=True)


if __name__ == "__main__":
    main()
