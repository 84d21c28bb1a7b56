"""Benchmark the Fast styles tab: milliseconds per image at 512 and 1024 px, fp32 vs the fast path.

    python bench/fast_style.py
    python bench/fast_style.py --sizes 512 1024 2048 --repeats 7
    python bench/fast_style.py --live      # webcam frames: frames per second and latency at 256, 384, 512 px
    python bench/fast_style.py --video     # a 512 px clip: frames per second, flicker per-frame vs clip statistics
    python bench/fast_style.py --compile   # the warm-up on an empty compile cache and from a filled one

Three runtimes, each size and runtime in a fresh subprocess (so peak RSS is its own): fp32 in the
default layout, eager bf16 + channels_last, and the same compiled with ``torch.compile`` (the app's
default; its one-off compilation, ``fast.warm_up()``, is timed separately and excluded). Each: one
untimed pass, then the median of ``--repeats`` timed calls of ``stylize_fast`` (decode excluded: the
input is already an image in memory). The network has random weights scaled to give a trained-like
output (speed does not depend on the values); PSNRs are measured against fp32 on the same input.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
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


def live_worker(size: int, frames: int) -> dict:
    """The app's live path (``app.stylize_live_frame``'s calls): a 640x480 webcam frame, scaled, compiled pass."""
    import numpy as np
    from PIL import Image

    from nst_core.image.fast import Compiler, FastModel, FastStyle, warm_up
    from nst_core.image.io import fitted_size
    from nst_core.runtime import PreparedModels
    from nst_core.video import FrameStylizer

    compiler, prepared = Compiler(), PreparedModels()
    compile_seconds = warm_up(compiler)
    model = FastModel(_net(), FastStyle("bench", "bench", "", value_range=255, channel_order="rgb"))
    camera = np.asarray(Image.open(ROOT / "examples" / "images" / "astronaut.jpg").convert("RGB").resize((640, 480)))
    latencies = []
    for index in range(frames + 2):
        started = time.perf_counter()
        stylizer = FrameStylizer(model, compiler=compiler, prepared=prepared)
        stylizer(camera, fitted_size(640, 480, size, enlarge=False))
        if index >= 2:  # the first passes prepare the network's copy
            latencies.append(time.perf_counter() - started)
    return {"latencies": latencies, "compile_seconds": compile_seconds}


def video_worker(size: int, frames: int, stability: str) -> dict:
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import panning_frames, write_video
    from nst_core.image.fast import Compiler, FastModel, FastStyle, warm_up
    from nst_core.video import VideoSettings, stylize_video

    compiler = Compiler()
    warm_up(compiler)
    model = FastModel(_net(), FastStyle("bench", "bench", "", value_range=255, channel_order="rgb"))
    with tempfile.TemporaryDirectory() as folder:
        source = write_video(Path(folder) / "pan.mp4", panning_frames(frames, (size, size * 3 // 4)), fps=24)
        result = stylize_video(source, model, VideoSettings(stability=stability), output=Path(folder) / "out.mp4",
                               compiler=compiler)
    return {"seconds": result.seconds, "frames": result.frames, "flicker": result.flicker,
            "runtime": result.runtime}


def compile_worker(symbols: str) -> dict:
    """The app's warm-up (``warm_up``, "auto" precision) in the compile cache the environment names; ``symbols``
    "every size" compiles as ``dynamic=True`` does, the weights' sizes symbols too (the engine marks only the
    picture's height and width)."""
    import functools

    import torch

    from nst_core.image.fast import Compiler, warm_up
    from nst_core.image.fast import run as fast_run

    if symbols == "every size":
        torch.compile = functools.partial(torch.compile, dynamic=True)
        fast_run.mark_picture_sizes_dynamic = lambda args: None
    compiler = Compiler()
    return {"compile_seconds": warm_up(compiler), "error": compiler.error}


def compile_table(repeats: int) -> None:
    """Median seconds of the warm-up on an empty compile cache, then from the cache it filled, in new processes."""
    print(f"machine: {machine()}")
    print(f"{'sizes that are symbols':>24} {'empty cache s':>14} {'filled cache s':>15}")
    for symbols in ("picture", "every size"):
        times: dict[str, list[float]] = {"empty": [], "filled": []}
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="nst-bench-inductor-") as cache:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
                for state in ("empty", "filled"):
                    run = run_worker(__file__, "compile", symbols)
                    assert run["error"] is None, run["error"]
                    times[state].append(run["compile_seconds"])
        os.environ.pop("TORCHINDUCTOR_CACHE_DIR")
        print(f"{symbols:>24} {statistics.median(times['empty']):>14.1f} {statistics.median(times['filled']):>15.1f}"
              f"   ({', '.join(f'{t:.1f}' for t in times['empty'])}; {', '.join(f'{t:.1f}' for t in times['filled'])})",
              flush=True)


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
    parser.add_argument("--live", action="store_true", help="webcam frames per second at 256, 384, 512 px")
    parser.add_argument("--video", action="store_true", help="frames per second and flicker on a 512 px clip")
    parser.add_argument("--compile", action="store_true", help="the warm-up's seconds on an empty and a filled cache")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "compile":
            report(compile_worker(rest[0]))
        elif kind == "live":
            report(live_worker(int(rest[0]), int(rest[1])))
        elif kind == "video":
            report(video_worker(int(rest[0]), int(rest[1]), rest[2]))
        else:
            report(worker(int(rest[0]), rest[1], int(rest[2])))
        return
    if args.compile:
        compile_table(args.repeats)
        return
    if args.live:
        print(f"machine: {machine()}")
        print(f"{'size':>5} {'frames/s':>9} {'median ms':>10} {'p90 ms':>7}")
        for size in (256, 384, 512):
            run = run_worker(__file__, "live", str(size), "30")
            latencies = sorted(run["latencies"])
            median, p90 = statistics.median(latencies), latencies[int(0.9 * len(latencies))]
            print(f"{size:>5} {1 / median:>9.1f} {1000 * median:>10.0f} {1000 * p90:>7.0f}", flush=True)
        return
    if args.video:
        print(f"machine: {machine()}")
        for stability in ("frame", "clip"):
            run = run_worker(__file__, "video", "512", "48", stability)
            print(f"512x384, 48 frames, statistics per {stability}: {run['frames'] / run['seconds']:.1f} frames/s "
                  f"(whole call {run['seconds']:.1f} s), flicker {run['flicker']:.3f}; {run['runtime']}", flush=True)
        return

    print(f"machine: {machine()}")
    print(f"{'size':>5} {'fp32 ms':>8} {'bf16 ms':>8} {'compiled ms':>11} {'speed-up':>9} {'PSNR dB':>8} "
          f"{'fp32 MB':>8} {'compiled MB':>11} {'compile s':>9}  tiles")
    for size in args.sizes:
        runs = {name: run_worker(__file__, "image", str(size), name, str(args.repeats)) for name in RUNTIMES}
        ms = {name: 1000 * statistics.median(run["seconds"]) for name, run in runs.items()}
        slow, quick = runs["fp32"], runs["compiled"]
        print(f"{size:>5} {ms['fp32']:>8.0f} {ms['bf16']:>8.0f} {ms['compiled']:>11.0f} "
              f"{ms['fp32'] / ms['compiled']:>8.2f}x {psnr(slow['image'], quick['image']):>8.1f} "
              f"{slow['peak_rss_mb']:>8.0f} {quick['peak_rss_mb']:>11.0f} {quick['compile_seconds']:>9.1f}"
              f"  {quick['tiles']:>5}", flush=True)
    print(f"fast path: {quick['runtime']}; bf16 eager: {runs['bf16']['runtime']}")


if __name__ == "__main__":
    main()
