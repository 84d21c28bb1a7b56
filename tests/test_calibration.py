"""Costs calibrated on the machine that serves: stand-in units make the effect exact, real units make it run."""

from __future__ import annotations

import pytest

from nst_core import FastSettings, ImageSettings, cost
from nst_core.calibration import CALIBRATION, PRECISION_CLASSES, UNITS, WITHOUT_PRECISION, Calibration, all_keys
from nst_core.runtime import cpu_supports_bf16, pick_runtime


@pytest.fixture
def restored():
    saved = dict(CALIBRATION.factors)
    yield CALIBRATION
    CALIBRATION.factors = saved


def _reference(seconds: float) -> dict[str, float]:
    return dict.fromkeys(all_keys(), seconds)


def _estimates() -> dict[str, cost.Cost]:
    runtime = pick_runtime("cpu", "fp32")
    return {"image": cost.image_cost(ImageSettings(size=512), runtime, (512, 341), [(512, 512)]),
            "fast": cost.fast_cost(FastSettings(), runtime, (800, 600), compiled=False),
            "onepass": cost.fast_cost(FastSettings(), runtime, (800, 600), compiled=False, network="onepass-any"),
            "reading": cost.reading_cost([(12.0, 1.0), (25.0, 25.0)])}


def test_a_machine_twice_as_slow_doubles_the_time_estimates_and_leaves_memory_alone(restored):
    before = _estimates()
    slow = {name: (lambda runtime: 0.2) for name in UNITS}  # the reference took 0.1 s for every unit
    factors = restored.run(_reference(0.1), units=slow)
    assert all(f == pytest.approx(2.0) for f in factors.values()) and len(factors) == 7  # 3 units x 2, reading
    after = _estimates()
    for name in before:
        assert after[name].seconds == pytest.approx(2 * before[name].seconds), name
        assert after[name].memory_mb == before[name].memory_mb, name


def test_each_unit_scales_only_the_models_it_stands_for(restored):
    restored.factors = {"image/fp32": 3.0}
    assert restored.factor("image/vgg19/fp32") == 3.0 and restored.factor("image/resnet50/fast") == 1.0
    assert restored.factor("fast/fp32/compiled") == restored.factor("audio/shallow/fp32") == 1.0
    restored.factors = {"fast/fast": 0.5}
    assert restored.factor("onepass-any/fast/eager") == restored.factor("video/fast/compiled") == 0.5
    assert restored.factor("fast/fast/compiled") == 0.5 and restored.factor("fast/fp32/eager") == 1.0
    restored.factors = {"read": 4.0}  # reading a picture has no precision class: one unit for both
    assert restored.factor(cost.READ_UNIT) == 4.0 and restored.factor("image/vgg19/fast") == 1.0


def test_the_real_units_run_and_the_committed_model_records_them(monkeypatch):
    import functools

    from nst_core import calibration as module

    reference = cost.reference_units()
    assert set(reference) == set(all_keys()) and "read" in reference
    # One pass over the units: the second pass, which only keeps the faster reading, has a test of its own.
    monkeypatch.setattr(module, "measure_units", functools.partial(module.measure_units, passes=1))
    calibration = Calibration()
    factors = calibration.run(reference)
    assert set(factors) == set(reference) and all(0 < f < float("inf") for f in factors.values()), factors
    # The class the runtime picks by itself runs native kernels: within a wide band of the fit's machine. Forced
    # bf16 on a CPU without bf16 kernels is emulated, and its factor says how much slower (x126 for the image unit
    # on an AVX-512 EPYC limited to AVX2 kernels): the budget then refuses such requests by their real cost.
    native = {"fast", "fp32"} if cpu_supports_bf16() else {"fp32"}
    assert all(0.05 < f < 50 for key, f in factors.items() if key.partition("/")[2] in native | {""}), factors
    if not cpu_supports_bf16():
        assert all(factors[f"{unit}/fast"] > 1 for unit in UNITS if unit not in WITHOUT_PRECISION), factors


def test_a_unit_keeps_its_faster_pass_and_a_slow_one_is_read_once():
    """A burst of other work slows one pass over the units, not both; an emulated unit (seconds) is read once."""
    from nst_core.calibration import measure_units

    readings = {"quick": iter([0.3, 0.1]), "slow": iter([2.0, 1.0])}
    calls = {"quick": 0, "slow": 0}

    def unit(name):
        def read(runtime):
            calls[name] += 1
            return next(readings[name]) if calls[name] <= 2 else 0.1
        return read

    measured = measure_units({"quick": unit("quick"), "slow": unit("slow")})
    assert measured["quick/fast"] == 0.1  # its second pass (the first read 0.3)
    assert measured["slow/fast"] == 2.0 and calls["slow"] == 2  # one reading per class, none again


def test_a_slow_unit_is_read_from_its_first_run_and_a_quick_one_from_several():
    """An emulated unit (seconds a run) read four times held a CPU without bf16 kernels' start-up for a minute."""
    import time

    from nst_core.calibration import _timed

    runs = []
    assert _timed(lambda: runs.append(time.sleep(0.25)), seconds=0.2) >= 0.25 and len(runs) == 1
    runs.clear()
    assert _timed(lambda: runs.append(time.sleep(0.01)), seconds=0.2) < 0.05 and 1 + 3 <= len(runs) <= 1 + 25


class Requests:
    """Stand-in request activity for the units below: ``beside`` readings have a request start during them (they
    read 5x slow), and one request runs for the first ``busy_looks`` looks at the activity."""

    def __init__(self, beside: int = 0, busy_looks: int = 0) -> None:
        self.beside, self.busy_looks = beside, busy_looks
        self.started = self.looks = self.readings = 0

    def __call__(self) -> tuple[int, int]:
        self.looks += 1
        return self.started, int(self.looks <= self.busy_looks)

    def unit(self, runtime) -> float:
        assert self.looks > self.busy_looks or not self.busy_looks, "read while a request ran"
        self.readings += 1
        if self.readings <= self.beside:
            self.started += 1
            return 0.5
        return 0.1


@pytest.fixture
def no_waiting(monkeypatch):
    import nst_core.control as control

    monkeypatch.setattr(control, "QUIET_POLL_S", 0.0)


def test_a_unit_is_read_while_no_request_runs_and_again_when_one_ran_beside_it(no_waiting):
    """Beside an Image run the units read slow, and the factors with them for as long as the server runs."""
    from nst_core.calibration import measure_units

    beside = Requests(beside=3)
    assert measure_units({"quick": beside.unit}, activity=beside) == {"quick/fast": 0.1, "quick/fp32": 0.1}
    assert beside.readings == 4 + 3  # two passes of two classes, and the three readings a request disturbed
    waiting = Requests(busy_looks=5)
    assert measure_units({"quick": waiting.unit}, activity=waiting) == {"quick/fast": 0.1, "quick/fp32": 0.1}
    assert waiting.readings == 4  # no reading was taken (the unit asserts it) until the request had ended
    assert measure_units({"quick": Requests(beside=3).unit}) == {"quick/fast": 0.5, "quick/fp32": 0.1}  # blind


def test_a_unit_with_no_quiet_moment_stays_pending_until_a_later_measure(no_waiting):
    busy = Requests(busy_looks=10**9)
    calibration = Calibration()
    reference = {"quick/fast": 0.05, "quick/fp32": 0.05}
    calibration.run(reference, {"quick": busy.unit}, activity=busy, patience_s=0.05)
    assert calibration.factors == {} and calibration.pending == ["quick/fast", "quick/fp32"]
    assert busy.readings == 0 and "pending" in calibration.detail
    calibration.factors = {"quick/fp32": 3.0}
    quiet = Requests(beside=1)
    calibration.run(reference, {"quick": quiet.unit}, activity=quiet, keys=["quick/fast"])
    assert calibration.factors == {"quick/fast": pytest.approx(2.0), "quick/fp32": 3.0}
    assert calibration.pending == [] and quiet.readings == 3  # two passes, one disturbed; fp32 not asked for


def test_the_fp32_class_is_timed_with_the_runtime_a_cpu_without_bf16_picks(monkeypatch):
    """The fp32 cost models and their unit must describe what an AVX2-only CPU runs by itself: the same layout.
    (Fitted contiguous while such a CPU ran channels_last, the calibrated estimates were 26-160 % long there.)"""
    import nst_core.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "cpu_supports_bf16", lambda: False)
    assert pick_runtime("cpu", "auto") == pick_runtime("cpu", PRECISION_CLASSES["fp32"])
    monkeypatch.setattr(runtime_module, "cpu_supports_bf16", lambda: True)
    assert pick_runtime("cpu", "auto") == pick_runtime("cpu", PRECISION_CLASSES["fast"])


def test_calibration_is_skipped_when_off_and_a_failure_keeps_the_fitted_times(monkeypatch):
    def broken(self, reference, units=None, **kwargs):
        raise RuntimeError("a unit failed")

    monkeypatch.delenv("NST_COST_CALIBRATION", raising=False)
    monkeypatch.setattr(Calibration, "run", broken)
    failing = Calibration()
    assert not failing.measure({"image/fp32": 1.0})
    assert failing.factors == {} and failing.factor("image/vgg19/fp32") == 1
    monkeypatch.setattr(Calibration, "run", lambda self, reference, **kwargs: setattr(self, "factors", {"x": 2}))
    measured = Calibration()
    assert measured.measure({"image/fp32": 1.0}) and measured.factors == {"x": 2}
    assert not Calibration().measure({})  # no reference units recorded
    monkeypatch.setenv("NST_COST_CALIBRATION", "off")
    skipped = Calibration()
    assert not skipped.measure({"image/fp32": 1.0}) and "off" in skipped.detail and skipped.factors == {}


def test_the_pages_time_hint_comes_from_the_estimate(restored, monkeypatch):
    from ui import image_tab

    restored.factors = {}
    quick = image_tab.time_hint()
    restored.factors = {f"image/{c}": 20.0 for c in PRECISION_CLASSES}
    slow = image_tab.time_hint()
    assert quick != slow and "on this server" in slow and "min" in slow, (quick, slow)
    # The one-pass start's time beside the default's, each the estimate itself as the page words it.
    from nst_core import ImageSettings, cost
    from nst_core.runtime import pick_runtime

    runtime = pick_runtime()
    default, one_pass = (cost.image_cost(settings, runtime, (512, 341), [(512, 512)]).seconds
                         for settings in (ImageSettings(), ImageSettings(init="one-pass")))
    assert one_pass < 0.5 * default
    assert (f"takes {image_tab.duration(default)} on this server ({image_tab.duration(one_pass)} starting from the "
            "one-pass result: Advanced, *Start from*)") in slow, slow
    # Where the one-pass networks cannot be had, the page promises no such start.
    monkeypatch.setattr(image_tab, "can_be_had", lambda key: key not in ("onepass-predictor", "onepass-transformer"))
    assert "one-pass" not in image_tab.time_hint() and "on this server;" in image_tab.time_hint()
