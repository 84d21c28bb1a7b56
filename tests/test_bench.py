"""The cost fit's measuring code runs on the engine as it is today: each kind of group at one tiny grid point.

A refit is an hour of a quiet machine; a group that an engine change broke (a setting renamed, a value no longer
accepted) would only show then. These runs are seconds long and check the points carry what the fit needs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cost_fit():
    spec = importlib.util.spec_from_file_location("cost_fit_under_test", ROOT / "bench" / "cost_fit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


TINY = {"IMAGE_POINTS": [(64, 1.0, 1)], "IMAGE_MULTISCALE": (96, 1.0, 1), "FAST_MEGAPIXELS": [0.02],
        "VIDEO_POINTS": [(64, 48, 2)], "SHALLOW_POINTS": [((32,), 5, 1, 2, False), ((32,), 5, 1, 4, True)],
        "FIXED_POINTS": [(5, 2, True)]}


@pytest.mark.parametrize("group", ["image/vgg19/fp32", "fast/fp32/eager", "video/fast/eager", "audio/shallow/fp32",
                                   "audio/genre/fast"])
def test_each_kind_of_cost_fit_group_measures_a_point(cost_fit, monkeypatch, group):
    for name, grid in TINY.items():
        monkeypatch.setattr(cost_fit, name, grid)
    function, arguments = cost_fit.GROUPS[group]
    points = function(*arguments)
    assert len(points) >= 1
    for point in points:
        assert point["seconds"] > 0 and point["memory_mb"] >= 0, point
        assert point["time_features"] and point["memory_features"], point
        assert all(value >= 0 for value in point["time_features"].values()), point
