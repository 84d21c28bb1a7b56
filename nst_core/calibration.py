"""Costs calibrated where the studio runs: seconds of measured work scale the fitted time coefficients.

The cost model (:mod:`nst_core.cost`) was fitted on one machine. CPUs differ several-fold (a CPU without bf16
kernels runs the engine in fp32, and bf16 there is emulated), so at start-up the server times a few small
*units* of the work each job kind does, at both precision classes (reading a picture, which has none, once), and
compares them with the same units timed on the fit's machine (``units`` in ``data/cost_model.json``, recorded by
``bench/cost_fit.py``). Each ratio scales the time coefficients of the models its unit stands for; until the
measurement ends (in the background, about 16 s on two cores) the committed coefficients apply. Memory is not
scaled: a job allocates the same tensors on any CPU; the precision class, which does change memory, has models
of its own.

A unit read beside a request reads slow (an Image run beside it doubles it), and a factor read so would lengthen
every estimate, and refuse jobs that fit, for as long as the server runs. Given the server's request activity,
each unit is read only while no request runs, and read again when one ran beside it; a unit that finds no quiet
moment within its patience stays *pending* (the fitted time applies to it) until a later :meth:`Calibration.measure`.

``NST_COST_CALIBRATION=off`` skips it.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import statistics
import time
from collections.abc import Callable, Collection, Mapping
from importlib import resources

import torch

from .control import Activity, wait_until_quiet
from .runtime import Runtime, freeze, pick_runtime, seeded

log = logging.getLogger(__name__)

PRECISION_CLASSES = {"fast": "bf16", "fp32": "fp32"}
# Which unit stands for which cost models, by the first part of the model's key.
UNIT_OF_FAMILY = {"image": "image", "fast": "fast", "video": "fast", "onepass-any": "fast", "onepass-26": "fast",
                  "audio": "audio", "read": "read"}
PATIENCE_S = 300.0  # how long a calibration waits for moments without requests before it leaves units pending


def _timed(step: Callable[[], object], least: int = 3, most: int = 25, seconds: float = 1.0) -> float:
    """The median time of ``step``: at least ``least`` runs, more while they add up to under ``seconds``; a step
    whose first run takes ``seconds`` or more is read from that run alone.

    A unit of tens of milliseconds read from three runs moved the factors by +-15 % on a shared machine. The
    first run allocates and picks kernels, which a slow unit hardly notices: bf16 emulated on a CPU without bf16
    kernels (the image unit 10.8 s a run on an AVX2-only EPYC) took 43 s of the start-up for four runs."""
    started = time.perf_counter()
    step()
    first = time.perf_counter() - started
    if first >= seconds:
        return first
    times: list[float] = []
    while len(times) < least or (sum(times) < seconds and len(times) < most):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def image_unit(runtime: Runtime) -> float:
    """One forward + backward of VGG19 (random weights) to relu5_1 w.r.t. a 192 px picture: an Image step."""
    from .image.backbones import BACKBONES

    with seeded(0):
        net = runtime.prepare_model(freeze(BACKBONES["vgg19"].build("max")))
    x = runtime.prepare_input(torch.rand(1, 3, 192, 192)).requires_grad_(True)

    def step() -> None:
        with runtime.autocast():
            features = net(x, ["relu5_1"])
        features["relu5_1"].float().square().sum().backward()

    return _timed(step)


def fast_unit(runtime: Runtime) -> float:
    """One pass of the feed-forward style network (random weights) on a 256 px picture."""
    from .image.fast.network import TransformerNet

    with seeded(0):
        net = runtime.prepare_model(freeze(TransformerNet()))
    x = runtime.prepare_input(torch.rand(1, 3, 256, 256) * 255)

    def step() -> None:
        with torch.inference_mode(), runtime.autocast():
            net(x)

    return _timed(step)


def audio_unit(runtime: Runtime) -> float:
    """One forward + backward of the shallow audio net (1024 filters) over 5 s of spectrogram frames."""
    from .audio.backends import ShallowNet

    net = runtime.prepare_model(freeze(ShallowNet(filters=(1024,))))
    x = torch.rand(1, net.frame.bins, 216, device=runtime.device, requires_grad=True)

    def step() -> None:
        with runtime.autocast():
            out = net(x, {"relu1"})["relu1"]
        out.float().square().sum().backward()

    return _timed(step)


def read_unit(runtime: Runtime) -> float:
    """Decoding a 1 MP PNG photo (the bundled cat, scaled up): reading an upload, which Pillow does on one core
    in any precision (``runtime`` is not used)."""
    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(resources.files("nst_core").joinpath("data", "chelsea.jpg")) as photo:
        photo.convert("RGB").resize((1224, 816), Image.Resampling.BICUBIC).save(buffer, format="PNG")

    def step() -> None:
        with Image.open(io.BytesIO(buffer.getvalue())) as picture:
            picture.load()

    return _timed(step)


UNITS: dict[str, Callable[[Runtime], float]] = {"image": image_unit, "fast": fast_unit, "audio": audio_unit,
                                                "read": read_unit}
# Units whose work has no precision class: read once, keyed by their name alone (``cost.reading_cost``'s "read").
WITHOUT_PRECISION = {"read"}


def unit_classes(name: str) -> dict[str, str]:
    """The precision classes unit ``name`` is read at ({class: precision}); one unnamed class where it has none."""
    return {"": "fp32"} if name in WITHOUT_PRECISION else PRECISION_CLASSES


def reading_key(name: str, precision_class: str) -> str:
    return f"{name}/{precision_class}" if precision_class else name


def unit_key(model_key: str) -> str:
    """The calibration unit that stands for a cost model: ``image/vgg19/fp32`` -> ``image/fp32``; ``read`` ->
    ``read``."""
    family, *rest = model_key.split("/")
    precision_class = next((part for part in rest if part in PRECISION_CLASSES), "")
    return reading_key(UNIT_OF_FAMILY.get(family, family), precision_class)


def all_keys(units: Mapping[str, Callable[[Runtime], float]] | None = None) -> list[str]:
    """Every ``<unit>/<class>`` (or ``<unit>``) reading a calibration takes."""
    return [reading_key(name, precision_class) for name in (units or UNITS) for precision_class in unit_classes(name)]


def _quiet_reading(read: Callable[[], float], activity: Activity | None, deadline: float) -> float | None:
    """``read()`` taken while no request ran: waited for, and taken again when one started meanwhile; None when
    no quiet reading was had by ``deadline`` (``time.monotonic``)."""
    if activity is None:
        return read()
    while True:
        before = wait_until_quiet(activity, deadline)
        if before[1]:
            return None
        seconds = read()
        if activity()[0] == before[0]:
            return seconds
        log.info("a request ran beside a calibration unit; it is read again")
        if time.monotonic() >= deadline:
            return None


def measure_units(units: Mapping[str, Callable[[Runtime], float]] | None = None, passes: int = 2,
                  slow: float = 0.5, *, activity: Activity | None = None, patience_s: float = PATIENCE_S,
                  keys: Collection[str] | None = None) -> dict[str, float]:
    """The units (those of ``keys``, else all) at both precision classes on this machine: ``{"<unit>/<class>":
    seconds}``, each read while ``activity`` shows no request (see the module); a unit with no quiet reading
    within ``patience_s`` is left out.

    Units are read in ``passes`` passes over all of them and the faster reading is kept: other work on a shared
    machine slows one pass, not both (one pass alone read a unit 1.8x slow in about one start in four). A unit
    slower than ``slow`` seconds a run (bf16 emulated on a CPU without bf16 kernels) is read once."""
    deadline = time.monotonic() + patience_s
    measured: dict[str, float] = {}
    for done in range(passes):
        for name, unit in (units or UNITS).items():
            for precision_class, precision in unit_classes(name).items():
                key = reading_key(name, precision_class)
                if (keys is not None and key not in keys) or (done and measured.get(key, 0.0) > slow):
                    continue
                seconds = _quiet_reading(functools.partial(unit, pick_runtime("cpu", precision)), activity, deadline)
                if seconds is not None:
                    measured[key] = min(seconds, measured.get(key, float("inf")))
    return measured


class Calibration:
    """The time factors in force: 1 until :meth:`run` has measured this machine against the reference units."""

    def __init__(self) -> None:
        self.factors: dict[str, float] = {}
        self.pending: list[str] | None = None  # units still to read; None: none read yet
        self.detail = "not calibrated (the fitted machine's times apply)"

    def factor(self, model_key: str) -> float:
        """The factor for a cost model's key, e.g. ``image/vgg19/fp32``: its unit at its precision class."""
        return self.factors.get(unit_key(model_key), 1.0)

    def run(self, reference: Mapping[str, float], units: Mapping[str, Callable[[Runtime], float]] | None = None, *,
            activity: Activity | None = None, patience_s: float = PATIENCE_S,
            keys: Collection[str] | None = None) -> dict[str, float]:
        """Measure the units (those of ``keys``, else all) and set their factors (this machine's seconds over the
        reference's); a unit not read quietly within ``patience_s`` stays in :attr:`pending`."""
        wanted = list(keys) if keys is not None else all_keys(units)
        measured = measure_units(units, activity=activity, patience_s=patience_s, keys=wanted)
        self.factors = {**self.factors, **{key: seconds / reference[key] for key, seconds in measured.items()
                                           if reference.get(key, 0) > 0}}
        self.pending = [key for key in wanted if key not in measured]
        self.detail = "calibrated: " + ", ".join(f"{key} x{factor:.2f}" for key, factor in sorted(self.factors.items()))
        if self.pending:
            self.detail += f"; pending (requests ran throughout): {', '.join(self.pending)}"
        log.info("cost model %s", self.detail)
        return self.factors

    def measure(self, reference: Mapping[str, float], *, activity: Activity | None = None,
                patience_s: float = PATIENCE_S) -> bool:
        """:meth:`run` on this thread for the units not yet read, unless ``NST_COST_CALIBRATION=off``; a failure
        leaves the fitted times. True once every unit is read.

        For a start-up thread that has more to do: the units must not share the cores with other work (measured
        beside the compile warm-up and the page's construction, they read 2-8x slow, and the estimates with them),
        nor with requests (``activity``: see the module)."""
        if os.environ.get("NST_COST_CALIBRATION", "").lower() in ("off", "0", "false", "no"):
            self.detail = "not calibrated (NST_COST_CALIBRATION=off)"
            return False
        if not reference:
            self.detail = "not calibrated (the cost model records no reference units)"
            return False
        try:
            self.run(reference, activity=activity, patience_s=patience_s, keys=self.pending)
        except Exception:  # noqa: BLE001 - calibration is an improvement; the fitted times still apply
            log.exception("cost calibration failed; the fitted machine's times apply")
            return False
        return not self.pending


CALIBRATION = Calibration()
