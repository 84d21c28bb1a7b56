"""Benchmark the Image tab's optimization: seconds per iteration and peak memory, fp32 vs the fast path.

    python bench/image_optimize.py                      # every backbone at 256 and 512 px, then a default run
    python bench/image_optimize.py --default-runs 3     # median of three 512 px runs, old and new schedule
    python bench/image_optimize.py --backbones vgg19 --sizes 512 --default-runs 0
    python bench/image_optimize.py --network --sizes 181 512 --default-runs 0   # a network step against a pixel step

Each configuration runs in a fresh subprocess so that its peak RSS is its own. The roofline is the step's
convolution work (counted with hooks: the forward to the deepest layer used, and the backward to the input,
about as much again) at the throughput of a large matrix product in the same dtype, measured on this machine
in the same worker. Iteration times are
medians over ``--steps`` L-BFGS iterations after one warm-up. Random weights: speed does not depend on
the values, so every backbone is measured, downloaded or not. The 512 px runs use the real bundled
VGG19 on an example pair and a pair from ``../shared/reference-images`` (``--pairs`` for others), today's
schedule and the three-scale one interleaved, each result judged by ``nst_core.image.metrics.judge_image``.
Ratios are only meaningful within one run of this script. ``--network`` times, in one worker per size and
precision, a step that moves the one-pass network (the one-pass option's coarse scale,
:mod:`nst_core.image.start_network`) against a step that moves the pixels, on the same VGG19 loss: the ratio is
the cost model's ``STEP_COST``.
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


def convolution_flops(net, image, layers) -> float:
    """Multiply-adds x 2 of every convolution a forward pass to ``layers`` runs (measured with hooks)."""
    import torch

    total = [0.0]

    def count(module, inputs, output):
        total[0] += 2.0 * output.numel() * module.in_channels // module.groups * module.weight[0, 0].numel()

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(image, layers)
    for hook in hooks:
        hook.remove()
    return total[0]


def matmul_throughput(dtype) -> float:
    """FLOP/s of a large square matrix product in ``dtype`` on this machine: the roofline the convolutions face."""
    import torch

    a, b = torch.randn(4096, 4096).to(dtype), torch.randn(4096, 4096).to(dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * 4096**3 / (time.perf_counter() - started)


def _loss(backbone: str, size: int, precision: str):
    """(runtime, network, content, loss) on random pictures of ``size`` with random weights."""
    import torch

    from nst_core.image.backbones import random_backbone
    from nst_core.image.objective import image_objective
    from nst_core.image.optimize import ImageSettings
    from nst_core.runtime import pick_runtime

    runtime = pick_runtime("auto", precision)
    net = runtime.prepare_model(random_backbone(backbone))
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size, size, generator=generator)
    style = torch.rand(1, 3, size, size, generator=generator)
    return runtime, net, content, image_objective(net, runtime, ImageSettings(backbone=backbone, size=size),
                                                  content, [style])


def _step_seconds(tensor, compose, objective, steps: int) -> list[float]:
    """Seconds of each of ``steps`` L-BFGS steps on ``objective(compose(tensor))``, after one warm-up."""
    from nst_core.optim import Descent

    descent = Descent("lbfgs", tensor, 1.0)
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        descent.step(lambda params: objective(compose(params)))
        times.append(time.perf_counter() - started)
    return times[1:]


def worker_iterations(backbone: str, size: int, precision: str, steps: int) -> dict:
    import torch

    runtime, net, content, objective = _loss(backbone, size, precision)
    times = _step_seconds(content.clone().requires_grad_(True), lambda image: image, objective, steps)
    layers = set(objective.terms[0].layers) | set(objective.terms[1].layers)
    # Forward, and backward to the input only (the weights are frozen): about twice the forward's work.
    flops = 2 * convolution_flops(net.float(), content, layers)
    return {"runtime": runtime.label, "seconds": times, "conv_flops": flops,
            "matmul_flops_per_s": matmul_throughput(runtime.autocast_dtype or torch.float32)}


def worker_network(size: int, precision: str, steps: int) -> dict:
    """A pixel step and a network step on the same VGG19 loss, interleaved in blocks."""
    import torch

    from nst_core.image.onepass.networks import STYLE_VECTOR_SIZE
    from nst_core.image.start_network import StartNetwork

    runtime, _, content, objective = _loss("vgg19", size, precision)
    vector = torch.randn(1, STYLE_VECTOR_SIZE, generator=torch.Generator().manual_seed(1))
    network = StartNetwork(vector, "none", runtime)
    canvas = network.at(content)
    pixel = _step_seconds(content.clone().requires_grad_(True), lambda image: image, objective, steps)
    moved = _step_seconds(canvas.params, canvas.picture, objective, steps)
    return {"runtime": runtime.label, "pixel": pixel, "network": moved}


def print_network_steps(sizes: list[int], steps: int) -> None:
    print(f"\n{'size':>5} {'precision':<10} {'pixel s/it':>10} {'network s/it':>12} {'ratio':>6}")
    for size in sizes:
        for precision in ("fp32", "auto"):
            run = run_worker(__file__, "network", str(size), precision, str(steps))
            pixel, moved = statistics.median(run["pixel"]), statistics.median(run["network"])
            print(f"{size:>5} {precision:<10} {pixel:>10.3f} {moved:>12.3f} {moved / pixel:>6.2f}  ({run['runtime']})",
                  flush=True)


# Today's default (five scales sqrt(2) apart, 40 steps at each) and the fastest candidate that came close on
# quality: three scales twice apart, 40, 40 and 48 steps (about 0.75x the time; see the README's Benchmarks).
SCHEDULES = {"default": {}, "3-scales": {"scale_ratio": 2.0, "schedule": (40, 40, 48)}}
DEFAULT_PAIRS = ("examples/images/astronaut.jpg:examples/images/style_mosaic.jpg",
                 "../shared/reference-images/boston.jpg:../shared/reference-images/candy.jpg")


def worker_default_run(schedule: str, pair: str) -> dict:
    from nst_core import ImageSettings, stylize_image
    from nst_core.image.metrics import judge_image

    content, style = (ROOT / path for path in pair.split(":"))
    settings = ImageSettings(**SCHEDULES[schedule])
    per_scale: dict[int, float] = {}
    last = [time.perf_counter()]

    def on_progress(event):
        now = time.perf_counter()
        per_scale[event.scale_index] = per_scale.get(event.scale_index, 0.0) + now - last[0]
        last[0] = now

    started = time.perf_counter()
    result = stylize_image(content, [style], settings, on_progress=on_progress)
    wall = time.perf_counter() - started
    scores = judge_image(result.image, content, style)
    return {"wall": wall, "runtime": result.runtime, "scales": settings.scales(),
            "per_scale": [per_scale[i] for i in sorted(per_scale)],
            "steps": [settings.steps_at(i, len(settings.scales())) for i in range(len(settings.scales()))],
            "size": result.image.size, "content": scores.content_distance, "style": scores.style_distance}


def print_default_runs(pairs: list[str], repeats: int) -> None:
    """Each schedule on each pair, interleaved so that both see the same machine; quality beside time."""
    print(f"default 512 px runs, median of {repeats}; distances judged under fp32 VGG19 at the result's size "
          "(lower is better)")
    print(f"{'pair':<40} {'schedule':<9} {'scales':<28} {'steps':<22} {'seconds':>8} {'content':>8} {'style':>8}"
          f"  per scale (s)")
    for pair in pairs:
        runs: dict[str, list[dict]] = {name: [] for name in SCHEDULES}
        for _ in range(repeats):
            for name in SCHEDULES:
                runs[name].append(run_worker(__file__, "default", name, pair))
        for name, done in runs.items():
            first, wall = done[0], statistics.median(run["wall"] for run in done)
            label = ":".join(Path(path).stem for path in pair.split(":"))
            print(f"{label:<40} {name:<9} {str(first['scales']):<28} {str(first['steps']):<22} {wall:>8.1f} "
                  f"{statistics.median(r['content'] for r in done):>8.4f} "
                  f"{statistics.median(r['style'] for r in done):>8.4f}  "
                  + ", ".join(f"{s:.1f}" for s in first["per_scale"]) + f"  ({first['runtime']}, "
                  f"{first['size'][0]}x{first['size'][1]}, peak {first['peak_rss_mb']:.0f} MB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["vgg19", "vgg16", "resnet50"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--steps", type=int, default=5, help="timed iterations per configuration")
    parser.add_argument("--default-runs", type=int, default=1,
                        help="512 px runs of each schedule on each pair (0 to skip)")
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS),
                        help="content:style paths relative to the repository, for the default runs")
    parser.add_argument("--network", action="store_true",
                        help="only a one-pass network step against a pixel step, at each size")
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        if args.worker[0] == "iterations":
            backbone, size, precision, steps = args.worker[1:]
            result = worker_iterations(backbone, int(size), precision, int(steps))
        elif args.worker[0] == "network":
            size, precision, steps = args.worker[1:]
            result = worker_network(int(size), precision, int(steps))
        else:
            result = worker_default_run(*args.worker[1:])
        report(result)
        return

    print(f"machine: {machine()}")
    if args.network:
        print_network_steps(args.sizes, args.steps)
        return
    print(f"{'backbone':<10} {'size':>5} {'fp32 s/it':>10} {'fast s/it':>10} {'speed-up':>9} "
          f"{'fp32 MB':>8} {'fast MB':>8} {'roofline s':>10} {'x roofline':>10}  fast path")
    for backbone in args.backbones:
        for size in args.sizes:
            slow = run_worker(__file__, "iterations", backbone, str(size), "fp32", str(args.steps))
            fast = run_worker(__file__, "iterations", backbone, str(size), "auto", str(args.steps))
            slow_s, fast_s = statistics.median(slow["seconds"]), statistics.median(fast["seconds"])
            roofline = fast["conv_flops"] / fast["matmul_flops_per_s"]
            print(f"{backbone:<10} {size:>5} {slow_s:>10.3f} {fast_s:>10.3f} {slow_s / fast_s:>8.2f}x "
                  f"{slow['peak_rss_mb']:>8.0f} {fast['peak_rss_mb']:>8.0f} {roofline:>10.3f} "
                  f"{fast_s / roofline:>9.2f}x  {fast['runtime']} ({fast['conv_flops'] / 1e9:.0f} GFLOP per step, "
                  f"matmul {fast['matmul_flops_per_s'] / 1e12:.2f} TFLOP/s)", flush=True)
    if args.default_runs:
        print_default_runs(args.pairs, args.default_runs)


if __name__ == "__main__":
    main()
