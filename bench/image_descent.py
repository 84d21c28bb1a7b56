"""How many full-size steps each start and each way of descending needs to reach the default Image run's distances.

    python bench/image_descent.py --device cuda                          # every variant, 8 pairs, 512 px
    python bench/image_descent.py --variants photo one-pass-pyramid --pairs boston.jpg:udnie.jpg
    python bench/image_descent.py --save-starts starts.pt --variants     # one-pass starts made here ...
    python bench/image_descent.py --starts starts.pt --device cuda       # ... for a machine without the network

Each variant runs its coarse scales, then many steps at the final size; the final scale's result is judged
(:func:`nst_core.image.metrics.judge_image`, fp32, after the engine's own finishing) at checkpoints, so one run
gives the whole curve. The summary gives, per variant and pair, the share of the default's cost at which both
distances first come within 3 % of the default run's (40 steps at each of five scales from the photo), and the
distances at a third of its cost. Cost is counted in pixel-steps (steps x pixels, summed over the scales; the
one-pass pass, about 1 % of the default, is left out): on the CPU the measured time share of a schedule lies
within a few hundredths of it (docs/benchmarks.md).

Ways of descending besides the engine's L-BFGS restarted at each scale (``"plain"``):
- ``"carry"``: the L-BFGS history goes on to the next scale, its steps enlarged and its gradient differences
  enlarged and divided by the area ratio (so that each pair's curvature, y.s, is kept);
- ``"pyramid"``: :class:`nst_core.image.pyramid.Pyramid` with the variant's gain (the picture as the sum of a
  full-size layer and coarser layers, halved down to 32 px, the k-th weighted gain^k / 2^k: a preconditioner).
- ``"network"``: the coarse scales move the one-pass transformer's weights and style vector (L-BFGS on all of
  them, the engine's :class:`~nst_core.image.start_network.StartNetwork`), and the final scale starts from the
  network's rendering at its size, then descends on the pyramid. A network step is counted here as one pixel step
  at the same size; it costs 1.1-1.3 of one (``bench/image_optimize.py --network``), which the engine's cost model
  counts.
- ``"multigrid"``: the network's coarse scale as above, then MG/OPT at the final scale (Nash, "A multigrid
  approach to discretized optimization problems", 2000): every few L-BFGS steps a correction from the problem at
  half the side, its objective tilted by the difference of the two scales' gradients so that its gradient at the
  shrunk picture is the full-size gradient shrunk, enlarged and added with a step length from a parabola through
  the full-size loss there, its slope and one more full-size evaluation. Its checkpoints count every evaluation,
  a coarse one as its share of the pixels.
Other starts: ``strength`` (the one-pass style vector moved that far from the photo's own), ``mix`` (the start's
pixels mixed with the photo's); ``detail``: each enlargement to the next scale gets the band it lacks from the
photo or from the one-pass result at that scale; ``final_style``: the coarse scales see the style picture at the
final scale's pixel size, not scaled with the photo; ``color``: the final scale's pyramid holds decorrelated
colour channels (:func:`color_mix`); ``tv_weight`` and the other weights: the objective's, changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine  # noqa: E402 (after the path set-up)
from image_quality import PAIRS  # noqa: E402

from nst_core.image import metrics  # noqa: E402
from nst_core.image.backbones import FeatureNet, load_backbone  # noqa: E402
from nst_core.image.io import load_image, resize_tensor  # noqa: E402
from nst_core.image.objective import scale_images, scale_targets  # noqa: E402
from nst_core.image.onepass.styles import style_picture, vector_of  # noqa: E402
from nst_core.image.optimize import _finish  # noqa: E402
from nst_core.image.pyramid import Pyramid  # noqa: E402
from nst_core.image.settings import ImageSettings  # noqa: E402
from nst_core.image.start import one_pass  # noqa: E402
from nst_core.image.start_network import StartNetwork  # noqa: E402
from nst_core.optim import make_optimizer  # noqa: E402
from nst_core.runtime import Runtime, pick_runtime  # noqa: E402

WITHIN, SHARE = 0.03, 1 / 3
CHECKPOINTS = (5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 80)
# Steps per scale, the final scale's count being the curve's length; "photo" at 40 is today's default.
VARIANTS = {
    "photo": {"init": "content", "schedule": (40, 40, 40, 40, 60)},
    "one-pass": {"init": "one-pass", "schedule": (0, 0, 20, 15, 60)},
    "one-pass-362": {"init": "one-pass", "schedule": (0, 0, 0, 20, 60)},
    "one-pass-512": {"init": "one-pass", "schedule": (0, 0, 0, 0, 80)},
    "one-pass-carry": {"init": "one-pass", "schedule": (0, 0, 20, 15, 60), "descent": "carry"},
    "one-pass-362-carry": {"init": "one-pass", "schedule": (0, 0, 0, 20, 60), "descent": "carry"},
    "one-pass-512-pyramid-1": {"init": "one-pass", "schedule": (0, 0, 0, 0, 80), "descent": "pyramid", "gain": 1.0},
    "one-pass-512-pyramid": {"init": "one-pass", "schedule": (0, 0, 0, 0, 80), "descent": "pyramid", "gain": 1.41},
    "one-pass-512-pyramid-2": {"init": "one-pass", "schedule": (0, 0, 0, 0, 80), "descent": "pyramid", "gain": 2.0},
    "one-pass-512-pyramid-2.83": {"init": "one-pass", "schedule": (0, 0, 0, 0, 80), "descent": "pyramid",
                                  "gain": 2.83},
    "one-pass-pyramid": {"init": "one-pass", "schedule": (0, 0, 0, 20, 60), "descent": "pyramid", "gain": 1.41},
    "one-pass-pyramid-2": {"init": "one-pass", "schedule": (0, 0, 0, 20, 60), "descent": "pyramid", "gain": 2.0},
    "photo-512-pyramid-2": {"init": "content", "schedule": (0, 0, 0, 0, 80), "descent": "pyramid", "gain": 2.0},
    "one-pass-no-tv": {"init": "one-pass", "schedule": (0, 0, 20, 15, 60), "tv_weight": 0.0},
    "one-pass-fp32": {"init": "one-pass", "schedule": (0, 0, 20, 15, 60), "precision": "fp32"},
    # Starts nearer the photo: the style vector moved part of the way from the photo's own, or the pixels mixed.
    "one-pass-0.5-pyramid": {"init": "one-pass", "strength": 0.5, "schedule": (0, 0, 0, 20, 40), "descent": "pyramid",
                             "gain": 1.41},
    "one-pass-0.7-pyramid": {"init": "one-pass", "strength": 0.7, "schedule": (0, 0, 0, 20, 40), "descent": "pyramid",
                             "gain": 1.41},
    "one-pass-0.5-362-10-pyramid": {"init": "one-pass", "strength": 0.5, "schedule": (0, 0, 0, 10, 40),
                                    "descent": "pyramid", "gain": 1.41},
    "one-pass-0.5-512-pyramid": {"init": "one-pass", "strength": 0.5, "schedule": (0, 0, 0, 0, 40),
                                 "descent": "pyramid", "gain": 1.41},
    "mix-0.5-pyramid": {"init": "one-pass", "mix": 0.5, "schedule": (0, 0, 0, 20, 40), "descent": "pyramid",
                        "gain": 1.41},
    "one-pass-pyramid-cw2": {"init": "one-pass", "schedule": (0, 0, 0, 20, 40), "descent": "pyramid", "gain": 1.41,
                             "content_weight": 2.0},
    "photo-362-pyramid": {"init": "content", "schedule": (0, 0, 0, 20, 40), "descent": "pyramid", "gain": 1.41},
    # Enlarged to the next scale with the detail an enlargement lacks: the photo's, or the one-pass result's there.
    "one-pass-pyramid-photo-detail": {"init": "one-pass", "schedule": (0, 0, 0, 20, 40), "descent": "pyramid",
                                      "gain": 1.41, "detail": "photo"},
    "one-pass-pyramid-one-pass-detail": {"init": "one-pass", "schedule": (0, 0, 0, 20, 40), "descent": "pyramid",
                                         "gain": 1.41, "detail": "one-pass"},
    "photo-detail": {"init": "content", "schedule": (40, 40, 40, 40, 40), "detail": "photo"},
    # The coarse scales move the one-pass network's weights and style vector instead of pixels; the final scale
    # starts from the network's own rendering at full size (no enlargement), then descends on the pyramid.
    "one-pass-network": {"init": "one-pass", "schedule": (0, 0, 20, 0, 60), "descent": "network", "gain": 1.41},
    "one-pass-network-362": {"init": "one-pass", "schedule": (0, 0, 0, 20, 60), "descent": "network", "gain": 1.41},
    # The same, the coarse scale's style held at the final scale's pixel size, so that the patterns the network
    # learns there are the size its full-size rendering needs.
    "one-pass-network-fs": {"init": "one-pass", "schedule": (0, 0, 20, 0, 60), "descent": "network", "gain": 1.41,
                            "final_style": True},
    "one-pass-network-fs-181": {"init": "one-pass", "schedule": (0, 20, 0, 0, 60), "descent": "network", "gain": 1.41,
                                "final_style": True},
    "one-pass-network-fs-181-40": {"init": "one-pass", "schedule": (0, 40, 0, 0, 60), "descent": "network",
                                   "gain": 1.41, "final_style": True},
    "one-pass-network-fs-128": {"init": "one-pass", "schedule": (20, 0, 0, 0, 60), "descent": "network", "gain": 1.41,
                                "final_style": True},
    # The same without the smoothness term, which the judge does not count.
    "one-pass-network-fs-181-no-tv": {"init": "one-pass", "schedule": (0, 20, 0, 0, 60), "descent": "network",
                                      "gain": 1.41, "final_style": True, "tv_weight": 0.0},
    # The same, the final scale's pyramid in decorrelated colours (the picture's colours are a fixed 3x3 mix of
    # the moved channels): L-BFGS's steps favour the luminance direction over the chroma ones.
    "one-pass-network-fs-181-color": {"init": "one-pass", "schedule": (0, 20, 0, 0, 60), "descent": "network",
                                      "gain": 1.41, "final_style": True, "color": 1.0},
    "one-pass-network-fs-181-color-0.5": {"init": "one-pass", "schedule": (0, 20, 0, 0, 60), "descent": "network",
                                          "gain": 1.41, "final_style": True, "color": 0.5},
    "one-pass-pyramid-color": {"init": "one-pass", "schedule": (0, 0, 0, 20, 60), "descent": "pyramid", "gain": 1.41,
                               "color": 1.0},
    "one-pass-network-fs-181-multigrid": {"init": "one-pass", "schedule": (0, 20, 0, 0, 60), "descent": "multigrid",
                                          "gain": 1.41, "final_style": True, "fine_steps": 3, "coarse_steps": 4},
    "one-pass-network-fs-181-multigrid-8": {"init": "one-pass", "schedule": (0, 20, 0, 0, 60),
                                            "descent": "multigrid", "gain": 1.41, "final_style": True,
                                            "fine_steps": 3, "coarse_steps": 8},
    "one-pass-network-sw1.2": {"init": "one-pass", "schedule": (0, 0, 20, 0, 60), "descent": "network", "gain": 1.41,
                               "style_weight": 6.0},
}


# The square root of natural images' RGB covariance as Olah et al. measured it on ImageNet ("Feature
# Visualization", Distill 2017; lucid's color_correlation_svd_sqrt).
RGB_COVARIANCE_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))


def color_mix(power: float) -> torch.Tensor:
    """The colour mix of the decorrelated variants: RGB_COVARIANCE_SQRT's singular values raised to ``power`` and
    scaled so that the largest (the luminance direction) is 1."""
    u, values, vh = torch.linalg.svd(torch.tensor(RGB_COVARIANCE_SQRT))
    values = (values / values[0]) ** power
    return u @ torch.diag(values) @ vh


def decorrelated_pyramid(start: torch.Tensor, power: float, gain: float):
    """A pyramid of decorrelated colour channels whose picture, the mean plus ``color_mix(power)`` of them, is
    ``start`` at first: (the optimizer's tensors, the function composing the picture)."""
    mix, mean = color_mix(power).to(start), start.mean((-2, -1), keepdim=True)
    layers = Pyramid(torch.einsum("ij,njhw->nihw", torch.linalg.inv(mix), start - mean), gain)

    def compose() -> torch.Tensor:
        return mean + torch.einsum("ij,njhw->nihw", mix, layers.picture())

    return [layers.params], compose


def carried_history(state: dict, old_size: tuple[int, int], new_size: tuple[int, int]) -> dict | None:
    """An L-BFGS state for the next scale from the last one's (None when it holds no curvature pairs yet).

    A loss that reads the same picture at more pixels has gradients spread over the area ratio r: a step s becomes
    up(s), a gradient difference y becomes up(y) / r, and y.s stays what it was.
    """
    ratio = new_size[0] * new_size[1] / (old_size[0] * old_size[1])

    def enlarge(vector: torch.Tensor) -> torch.Tensor:
        return F.interpolate(vector.view(1, -1, *old_size), size=new_size, mode="bilinear",
                             align_corners=False).reshape(-1)

    pairs = [(enlarge(y) / ratio, enlarge(s)) for y, s in zip(state.get("old_dirs", []), state.get("old_stps", []))]
    pairs = [(y, s) for y, s in pairs if float(y.dot(s)) > 0]
    if not pairs:
        return None
    size = pairs[0][0].numel()
    last_y, last_s = pairs[-1]
    # n_iter 1 with a zero last step: the next step() uses this history and adds no pair across the two scales.
    return {"n_iter": 1, "func_evals": 0, "d": last_s.new_zeros(size), "t": 0.0,
            "prev_flat_grad": last_s.new_zeros(size), "prev_loss": None,
            "old_dirs": [y for y, _ in pairs], "old_stps": [s for _, s in pairs],
            "ro": [1.0 / float(y.dot(s)) for y, s in pairs], "H_diag": float(last_y.dot(last_s) / last_y.dot(last_y))}


def aligned(schedule: tuple[int, ...], count: int) -> tuple[int, ...]:
    """A schedule written for five scales, fitted to ``count`` (the final scales kept)."""
    return ((0,) * count + tuple(schedule))[-count:]


def run(variant: dict, content: Path, style: Path, *, net: FeatureNet, judge_net: FeatureNet, runtime: Runtime,
        size: int = 512, min_size: int = 128, starts: dict | None = None,
        checkpoints: tuple[int, ...] = CHECKPOINTS) -> dict:
    """One variant on one pair: its judged distances at the final scale's checkpoints and its cost per step."""
    fields = {k: v for k, v in variant.items() if k in ("content_weight", "style_weight", "tv_weight", "precision")}
    network = (StartNetwork(vector_of(style_picture(style)), "none", runtime)
               if variant.get("descent") in ("network", "multigrid") else None)
    settings = ImageSettings(size=size, min_size=min_size, **fields)
    sides = settings.scales()
    schedule = aligned(variant["schedule"], len(sides))
    loaded_content, loaded_style = load_image(content), load_image(style)
    picture, state, last_size, judged, pixels = None, None, None, {}, []
    started = time.perf_counter()
    for index, (side, steps) in enumerate(zip(sides, schedule)):
        at_scale = settings
        if variant.get("final_style") and index < len(sides) - 1:  # the style at the final scale's pixel size
            at_scale = dataclasses.replace(settings, style_scale=settings.style_scale * sides[-1] / side)
        scale = (scale_targets(side, loaded_content, [loaded_style], None, at_scale, net, runtime) if steps else
                 scale_images(side, loaded_content, [loaded_style], None, settings))  # a skipped scale: its size
        height, width = scale.content.shape[-2:]
        pixels.append(height * width)
        if steps == 0:
            continue
        last = index == len(sides) - 1
        if network is not None and not last:  # a coarse scale moves the network, not a picture
            render = functools.partial(network.render, scale.content)
            for _ in descend(make_optimizer("lbfgs", [network.params], 1.0), scale.objective, render, steps):
                pass
            continue
        if network is not None:
            with torch.no_grad():
                picture = network.render(scale.content).clamp(0, 1)
        if picture is None:
            picture = (one_pass_start(starts, content, style, side, scale.content, loaded_style,
                                      variant.get("strength", 1.0))
                       if variant["init"] == "one-pass" else scale.content)
            if "mix" in variant:  # the start's pixels mixed with the photo's
                picture = (variant["mix"] * resize_tensor(picture, (height, width))
                           + (1 - variant["mix"]) * scale.content)
        x = resize_tensor(picture.detach().to(runtime.device), (height, width))
        if variant.get("detail") and last_size is not None:  # the band the enlargement cannot make, from elsewhere
            source = (scale.content if variant["detail"] == "photo" else
                      one_pass_start(starts, content, style, side, scale.content, loaded_style))
            source = resize_tensor(source.to(runtime.device), (height, width))
            x = x + source - resize_tensor(resize_tensor(source, last_size), (height, width))
        x = x.clamp(0, 1)
        if variant.get("descent") in ("pyramid", "network") and "color" in variant:
            params, compose = decorrelated_pyramid(x, variant["color"], variant["gain"])
        elif variant.get("descent") in ("pyramid", "network", "multigrid"):
            layers = Pyramid(x, variant["gain"])
            params, compose = [layers.params], layers.picture
        else:
            params, compose = [x.requires_grad_(True)], (lambda x=x: x)
        optimizer = make_optimizer("lbfgs", params, 1.0)  # the engine's L-BFGS
        if variant.get("descent") == "carry" and state is not None:
            optimizer.state[params[0]].update(carried_history(state, last_size, (height, width)) or {})
        if last and variant.get("descent") == "multigrid":
            coarse = scale_targets(sides[-3], loaded_content, [loaded_style], None, settings, net, runtime)
            costs = multigrid(optimizer, params[0], compose, scale.objective, coarse.objective,
                              coarse.content.shape[-2:], steps, variant["fine_steps"], variant["coarse_steps"])
        else:
            costs = descend(optimizer, scale.objective, compose, steps)
        pending = [c for c in checkpoints if c < steps] + [steps]
        for cost in costs:  # in final-scale steps: a step's number, or every evaluation counted
            if last and pending and cost >= pending[0]:
                pending = [c for c in pending if c > cost]
                with torch.no_grad():
                    result = _finish(compose().cpu(), scale.content, scale.styles, settings, False,
                                     judge=scale.objective)
                scores = metrics.judge_image(result, content, style, network=judge_net)
                judged[math.ceil(cost)] = (scores.content_distance, scores.style_distance)
        picture, state, last_size = compose().detach(), optimizer.state[params[0]], (height, width)
    return {"seconds": time.perf_counter() - started, "judged": judged, "pixels": pixels, "schedule": schedule}


def descend(optimizer: torch.optim.LBFGS, objective, compose, steps: int):
    """``steps`` L-BFGS steps on ``objective(compose())``, yielding each step's number from 1."""
    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = objective(compose())
        loss.backward()
        return loss

    for step in range(1, steps + 1):
        optimizer.step(closure)
        yield step


def multigrid(optimizer: torch.optim.LBFGS, params: torch.Tensor, compose, objective, coarse_objective,
              coarse_size: tuple[int, int], steps: int, fine_steps: int, coarse_steps: int):
    """MG/OPT cycles on ``objective(compose())`` with ``coarse_objective`` at ``coarse_size``; yields the cost so
    far in full-size evaluations after each step (``params``: the optimizer's tensor, whose first numbers are the
    picture's, as in a pyramid's full-size layer or the pixels)."""
    full = compose().shape
    ratio = coarse_size[0] * coarse_size[1] / (full[-2] * full[-1])
    shrunk = torch.zeros(1, 3, *coarse_size, requires_grad=True)
    coarse_optimizer = make_optimizer("lbfgs", [shrunk], 1.0)
    cost = 0.0
    for _ in descend(optimizer, objective, compose, fine_steps):
        cost += 1
        yield cost

    def enlarge(small: torch.Tensor) -> torch.Tensor:
        return F.interpolate(small, size=full[-2:], mode="bilinear", align_corners=False)

    while cost < steps:
        optimizer.zero_grad(set_to_none=True)
        picture = compose()
        picture.retain_grad()
        loss, _ = objective(picture)
        loss.backward()
        gradient, start = picture.grad.detach(), picture.detach()
        flat_gradient = params.grad.detach().reshape(-1).clone()
        small = resize_tensor(start, coarse_size).detach()
        probe = small.clone().requires_grad_(True)
        (shrunk_gradient,) = torch.autograd.grad((enlarge(probe) * gradient).sum(), probe)  # the enlargement's adjoint
        probe = small.clone().requires_grad_(True)
        (coarse_gradient,) = torch.autograd.grad(coarse_objective(probe)[0], probe)
        tilt = (coarse_gradient - shrunk_gradient).detach()
        with torch.no_grad():
            shrunk.copy_(small)
        coarse_optimizer.state.clear()

        def coarse_closure(tilt: torch.Tensor = tilt) -> torch.Tensor:
            coarse_optimizer.zero_grad(set_to_none=True)
            value = coarse_objective(shrunk)[0] - (tilt * shrunk).sum()
            value.backward()
            return value

        for _ in range(coarse_steps):
            coarse_optimizer.step(coarse_closure)
        correction = enlarge(shrunk.detach() - small)
        with torch.no_grad():
            tried = float(objective(start + correction)[0])
        slope, value = float((gradient * correction).sum()), float(loss.detach())
        curvature = tried - value - slope
        length = min(1.0, -slope / (2 * curvature)) if slope < 0 and curvature > 0 else 0.0
        step = torch.zeros_like(flat_gradient)
        step[: start.numel()] = length * correction.reshape(-1)
        with torch.no_grad():
            params.view(-1).add_(step)
        # The correction becomes L-BFGS's last step, so that its next step adds the curvature seen along it.
        state = optimizer.state[params]
        state.update(prev_flat_grad=flat_gradient, d=step, t=1.0, n_iter=max(state.get("n_iter", 0), 1))
        for key, empty in (("old_dirs", []), ("old_stps", []), ("ro", []), ("H_diag", 1), ("func_evals", 0)):
            state.setdefault(key, empty)
        cost += 2 + (coarse_steps + 1) * ratio
        yield cost
        for _ in descend(optimizer, objective, compose, min(fine_steps, math.ceil(steps - cost))):
            cost += 1
            yield cost


def one_pass_start(starts: dict | None, content: Path, style: Path, side: int, photo: torch.Tensor,
                   loaded_style, strength: float = 1.0) -> torch.Tensor:
    """The one-pass result at the first scale: from ``starts`` (made by --save-starts) or the network here."""
    key = f"{content.name}:{style.name}:{side}" + (f":{strength}" if strength != 1.0 else "")
    if starts is not None and key in starts:
        return starts[key].float()
    return one_pass(photo, [loaded_style.image], None, "none", strength=strength)


def cost_share(record: dict, default: dict, final_steps: int) -> float:
    """Pixel-steps of ``record``'s schedule with ``final_steps`` at the final scale, over the default's."""
    schedule = (*record["schedule"][:-1], final_steps)
    return (sum(n * p for n, p in zip(schedule, record["pixels"]))
            / sum(40 * p for p in default["pixels"]))


def summarize(records: list[dict]) -> None:
    by_pair: dict[str, dict[str, dict]] = {}
    for record in records:
        by_pair.setdefault(record["pair"], {})[record["variant"]] = record
    variants = [v for v in dict.fromkeys(r["variant"] for r in records) if v != "photo"]
    print(f"\nShare of the default's cost at which both distances come within {WITHIN:.0%} of its own (-: not within "
          "the curve), then the content / style change at a third of its cost:")
    print("| variant | " + " | ".join(by_pair) + " | median |\n|---|" + "---|" * (len(by_pair) + 1))
    for name in variants:
        cells, needed = [], []
        for runs in by_pair.values():
            if name not in runs or "photo" not in runs:
                cells.append("")  # not run
                continue
            default, record = runs["photo"], runs[name]
            c0, s0 = {int(k): v for k, v in default["judged"].items()}[40]
            curve = {int(k): v for k, v in record["judged"].items()}
            met = [k for k, (c, s) in curve.items() if c <= (1 + WITHIN) * c0 and s <= (1 + WITHIN) * s0]
            needed.append(cost_share(record, default, min(met)) if met else math.inf)
            within = [k for k in sorted(curve) if cost_share(record, default, k) <= SHARE + 0.01] or [min(curve)]
            c, s = curve[within[-1]]
            share = f"{needed[-1]:.2f}" if met else "-"
            cells.append(f"{share}; {c / c0 - 1:+.0%} / {s / s0 - 1:+.0%}")
        median = f"{statistics.median(needed):.2f} of {len(needed)}" if needed else "-"  # no default run beside it
        print(f"| {name} | " + " | ".join(cells) + f" | {median} |")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "reference-images")
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), help="content:style file names")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--starts", type=Path, help="one-pass starts saved by --save-starts")
    parser.add_argument("--save-starts", type=Path, help="make the one-pass starts of every pair and scale, save them")
    parser.add_argument("--out", type=Path, help="also write each run as a JSON line here")
    parser.add_argument("--summarize", type=Path, nargs="+", help="only summarize runs written by --out")
    args = parser.parse_args()
    if args.summarize:
        summarize([json.loads(line) for path in args.summarize for line in path.read_text().splitlines()])
        return
    pairs = [tuple(args.images / name for name in pair.split(":")) for pair in args.pairs]
    if args.save_starts:
        save_starts(pairs, args.size, args.save_starts)
        if not args.variants:
            return
    starts = torch.load(args.starts, weights_only=True) if args.starts else None
    print(machine() + (f"; device {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else ""))
    net = load_backbone("vgg19")
    judging = pick_runtime(args.device, "fp32")
    metrics.pick_runtime = lambda *_, **__: judging  # judge where the runs are (fp32 as always)
    judge_net = judging.prepare_model(net)
    runtimes = {p: pick_runtime(args.device, p) for p in ("auto", "fp32")}
    prepared = {p: runtime.prepare_model(net) for p, runtime in runtimes.items()}
    records = []
    for content, style in pairs:  # pair by pair, so that a run cut short still compares every variant
        for name in args.variants:
            variant = VARIANTS[name]
            precision = variant.get("precision", "auto")
            record = {"variant": name, "pair": f"{content.name}:{style.name}",
                      **run(variant, content, style, net=prepared[precision], judge_net=judge_net,
                            runtime=runtimes[precision], size=args.size, starts=starts)}
            records.append(record)
            if args.out:
                with args.out.open("a") as out:
                    out.write(json.dumps(record) + "\n")
            print(name, record["pair"], f"{record['seconds']:.1f} s", flush=True)
    summarize(records)


def save_starts(pairs: list[tuple[Path, Path]], size: int, path: Path) -> None:
    starts = {}
    settings = ImageSettings(size=size)
    for content, style in pairs:
        loaded_content, loaded_style = load_image(content), load_image(style)
        for side in settings.scales():
            photo = scale_images(side, loaded_content, [loaded_style], None, settings).content
            starts[f"{content.name}:{style.name}:{side}"] = one_pass(photo, [loaded_style.image], None, "none").half()
    torch.save(starts, path)


if __name__ == "__main__":
    main()
