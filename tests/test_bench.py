"""The cost fit's measuring code runs on the engine as it is today: each kind of group at one tiny grid point.

A refit is an hour of a quiet machine; a group that an engine change broke (a setting renamed, a value no longer
accepted) would only show then. These runs are seconds long and check the points carry what the fit needs."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def bench_module(name: str):
    """``bench/<name>.py`` as a module (its imports of the other bench scripts resolved); unloaded afterwards."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.path[:] = saved_path
    for added in {spec.name, "common", "image_quality"} - saved_modules:
        sys.modules.pop(added, None)


@pytest.fixture(scope="module")
def cost_fit():
    yield from bench_module("cost_fit")


TINY = {"IMAGE_POINTS": [(64, 1.0, 1)], "IMAGE_MULTISCALE": (96, 1.0, 1), "FAST_MEGAPIXELS": [0.02],
        "VIDEO_POINTS": [(64, 48, 2)], "VIDEO_TIME_POINTS": [(32, 32, 3)],
        "SHALLOW_POINTS": [((32,), 5, 1, 2, False), ((32,), 5, 1, 4, True)],
        "FIXED_POINTS": [(5, 2, True)]}


@pytest.mark.parametrize("group", ["image/vgg19/fp32", "fast/fp32/eager", "video/fast/eager", "audio/shallow/fp32",
                                   "audio/genre/fast"])
def test_each_kind_of_cost_fit_group_measures_a_point(cost_fit, monkeypatch, group):
    for name, grid in TINY.items():
        monkeypatch.setattr(cost_fit, name, grid)
    function, arguments = cost_fit.GROUPS[group]
    threads = set(threading.enumerate())
    points = function(*arguments)
    assert len(points) >= 1
    # Its memory sampler ends with each measure: five left polling every 2 ms loaded every test after them.
    assert not set(threading.enumerate()) - threads
    for point in points:
        assert point["seconds"] > 0 and point["memory_mb"] >= 0, point
        assert point["time_features"], point
        assert point["memory_features"] or point["point"] == "32x32, 3 frames", point  # that one: time only
        assert all(value >= 0 for value in point["time_features"].values()), point


@pytest.fixture(scope="module")
def image_descent():
    yield from bench_module("image_descent")


def test_the_carried_history_keeps_each_pairs_curvature(image_descent):
    small, large = (6, 8), (12, 16)
    # Smooth steps, as a coarse scale's are: enlarging them keeps their energy (white noise would be smoothed).
    steps = [torch.nn.functional.interpolate(torch.randn(1, 3, 3, 4), size=small, mode="bilinear").reshape(-1)
             for _ in range(3)]
    differences = [2 * s for s in steps]  # positive curvature along each step
    state = image_descent.carried_history({"old_stps": steps, "old_dirs": differences}, small, large)
    assert len(state["old_stps"]) == 3 and state["old_stps"][0].numel() == 3 * 12 * 16
    for y, s, y0, s0 in zip(state["old_dirs"], state["old_stps"], differences, steps):
        assert float(y.dot(s)) == pytest.approx(float(y0.dot(s0)), rel=0.2)  # not 4x: the area ratio is divided out
    assert image_descent.carried_history({"old_stps": [], "old_dirs": []}, small, large) is None


def test_the_colour_mix_keeps_luminance_and_shrinks_chroma_by_its_power(image_descent):
    full, half = image_descent.color_mix(1.0), image_descent.color_mix(0.5)
    assert torch.linalg.svdvals(full).tolist() == pytest.approx([1.0, 0.276, 0.132], abs=0.002)
    assert torch.linalg.svdvals(half) == pytest.approx(torch.linalg.svdvals(full).sqrt(), abs=1e-5)
    grey = torch.ones(3) / 3**0.5  # natural images' largest colour direction is about the grey one
    assert float((full @ full.T @ grey).norm()) > 0.95
    start = torch.rand(1, 3, 96, 128)
    params, compose = image_descent.decorrelated_pyramid(start, 1.0, 1.41)
    assert torch.allclose(compose(), start, atol=1e-5)  # it starts where the picture is
    assert params[0].requires_grad and params[0].numel() > start.numel()  # the coarser layers too


@pytest.mark.parametrize("name", ["photo", "one-pass-carry", "one-pass-pyramid", "mix-0.5-pyramid",
                                  "one-pass-pyramid-one-pass-detail", "one-pass-network", "one-pass-network-fs",
                                  "one-pass-pyramid-color", "one-pass-network-fs-181-multigrid"])
def test_each_descent_variant_runs_and_is_judged_at_its_checkpoints(image_descent, tmp_path, name):
    from PIL import Image

    from nst_core.image.backbones import random_backbone
    from nst_core.runtime import pick_runtime

    generator = np.random.default_rng(0)
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    for path in (content, style):
        Image.fromarray(generator.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    net = random_backbone("vgg19")
    runtime = pick_runtime("cpu", "fp32")
    starts = {f"content.png:style.png:{side}": torch.rand(1, 3, 24, 32) for side in (32, 45)}
    variant = {**image_descent.VARIANTS[name], "schedule": (0, 3, 2, 4)}  # aligned to the last three scales
    record = image_descent.run(variant, content, style, net=runtime.prepare_model(net), judge_net=net,
                               runtime=runtime, size=64, min_size=32, starts=starts, checkpoints=(2,))
    assert record["schedule"] == (3, 2, 4) and len(record["pixels"]) == 3
    judged = sorted(record["judged"])
    if "multigrid" in name:  # its checkpoints count evaluations: 3 steps, then a cycle (2 full-size, 5 coarser)
        assert len(judged) == 2 and judged[0] == 2 and 3 + 2 < judged[1] < 3 + 2 + 5
    else:
        assert judged == [2, 4]
    assert all(np.isfinite(value) and value > 0 for pair in record["judged"].values() for value in pair)
    share = image_descent.cost_share(record, {"pixels": record["pixels"]}, 4)
    pixel_steps = sum(n * p for n, p in zip((3, 2, 4), record["pixels"]))
    assert share == pytest.approx(pixel_steps / (40 * sum(record["pixels"])))


@pytest.fixture(scope="module")
def image_optimize():
    yield from bench_module("image_optimize")


def test_the_network_step_is_timed_against_a_pixel_step_on_the_same_loss(image_optimize):
    run = image_optimize.worker_network(64, "fp32", 2)
    assert run["runtime"].startswith("cpu/fp32")
    assert len(run["pixel"]) == len(run["network"]) == 2
    assert all(seconds > 0 for seconds in run["pixel"] + run["network"])
