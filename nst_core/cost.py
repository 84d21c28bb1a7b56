"""What a job will cost before it runs: peak memory and seconds, from its settings and its inputs' sizes.

Each job kind turns a request into a few *features* (pixels times steps summed over the scales, a network's
multiply-accumulates times frames, ...) that its memory and time grow with; the estimate is a linear model
over them whose coefficients were fitted to measurements on this project's reference machine by
``bench/cost_fit.py`` and committed as ``data/cost_model.json`` (with each grid point's measured and
estimated figures). The same feature functions serve the fit and the estimate, so they cannot drift apart.
Coefficients are per network architecture and precision class: ``fp32``, or ``fast`` (bf16/fp16 autocast).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from .audio.backends import AudioBackend, ShallowNet
from .audio.optimize import AudioSettings
from .budget import Budget, OverBudget
from .calibration import CALIBRATION
from .image import pyramid, start_network
from .image.backbones import backbone_spec
from .image.color import recolors_style
from .image.fast.run import ALIGN, TILE_OVERLAP, FastSettings
from .image.io import fitted_size
from .image.objective import MIN_SIDE
from .image.optimize import ImageSettings
from .image.settings import STEPS
from .optim import LBFGS_HISTORY as HISTORY
from .runtime import Runtime
from .video.stylize import VideoSettings
from .windows import fitted_spans, spans

Features = dict[str, float]
MODEL_FILE = "cost_model.json"
# Reading a picture (``bench/decode.py`` on the machine that recorded the reference units): seconds per megapixel
# decoded (the slowest picture there, a PNG photo: a PNG that compresses well reads 3x faster), per megapixel
# stored (a JPEG's entropy decoding, paid in full when it is drafted to a fraction), and peak memory per megapixel
# decoded.
READ_S_PER_DECODED_MP, READ_S_PER_STORED_MP, READ_MB_PER_DECODED_MP = 0.045, 0.0015, 10.0
READ_UNIT = "read"  # the calibration unit that scales them (nst_core.calibration.read_unit)
# Decoding a video's frames (``bench/video_decode.py``, the same machine): seconds per megapixel of a frame (a
# photo panned at 1080p; flat frames decode 5x faster), per megabit of the file (lossless noise, where entropy
# decoding is the work), and peak memory: the decoder's own, and per megapixel of a frame (its frames in flight).
VIDEO_S_PER_FRAME_MP, VIDEO_S_PER_MBIT, VIDEO_MB, VIDEO_MB_PER_FRAME_MP = 0.004, 0.0012, 20.0, 4.5
# The balance controller reads its targets every this many steps (balance.BalanceController.check_every).
BALANCE_CHECK_EVERY = 10


@dataclass(frozen=True)
class Cost:
    seconds: float
    memory_mb: float

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024

    def then(self, other: Cost) -> Cost:
        """This work, then ``other``: the times add; memory is the larger, each freed before the next."""
        return Cost(self.seconds + other.seconds, max(self.memory_mb, other.memory_mb))


def precision_class(runtime: Runtime) -> str:
    return "fp32" if runtime.autocast_dtype is None else "fast"


# --------------------------------------------------------------------------- features

def image_features(settings: ImageSettings, content: tuple[int, int],
                   styles: Sequence[tuple[int, int]]) -> tuple[Features, Features]:
    """(time features, memory features) of an optimization: megapixel-steps, per-scale target pixels, and the
    largest content and style pictures at the final scale."""
    sizes = settings.scales()
    step_mp = target_mp = 0.0
    scale_mp = []  # content and style pixels of each scale
    built_style_sizes = None  # at the last scale built: a next scale with the same keeps its style targets
    for index, long_side in enumerate(sizes):
        width, height = fitted_size(*content, long_side, MIN_SIDE)
        style_side = round(long_side * settings.style_scale_at(index))
        style_sizes = [fitted_size(*s, style_side, MIN_SIDE) for s in styles]
        style_pixels = [math.prod(size) for size in style_sizes]
        # A step that moves the one-pass network costs STEP_COST pixel steps (start_network.py).
        per_step = start_network.STEP_COST if settings.on_network() and index < len(sizes) - 1 else 1.0
        step_mp += per_step * settings.steps_at(index, len(sizes)) * width * height / 1e6
        scale_mp.append((width * height + sum(style_pixels)) / 1e6)
        if settings.builds_scale(index):
            kept = style_sizes == built_style_sizes and settings.mask is None and not recolors_style(settings.color)
            target_mp += width * height / 1e6 + (0.0 if kept else sum(style_pixels) / 1e6)
            built_style_sizes = style_sizes
    final_content = math.prod(fitted_size(*content, sizes[-1], MIN_SIDE)) / 1e6
    final_style = max(style_pixels) / 1e6
    # The scale before the last is still held while the last one builds its targets; L-BFGS keeps two copies of
    # the image for each of its last HISTORY steps.
    prior = scale_mp[-2] if len(scale_mp) > 1 else 0.0
    history = min(settings.steps_at(len(sizes) - 1, len(sizes)), HISTORY) if settings.optimizer == "lbfgs" else 0
    if settings.on_pyramid():  # the history's vectors hold the pyramid's layers (about 4/3 of the pixels)
        history *= pyramid.size_ratio(*reversed(fitted_size(*content, sizes[-1], MIN_SIDE)))
    return ({"const": 1.0, "step_mp": step_mp, "target_mp": target_mp},
            {"const": 1.0, "content_mp": final_content, "style_mp": final_style, "prior_mp": prior,
             "history_mp": history * final_content})


def fast_features(size: tuple[int, int], settings: FastSettings) -> tuple[Features, Features]:
    """(time, memory) features of one Fast styles picture of ``size`` (width, height, after any cap): one pass,
    or tiles (each with its overlap) after a statistics pass over a copy of at most ``stats_pixels``."""
    width, height = size
    mp = width * height / 1e6
    if width * height <= settings.tile_pixels:
        return {"const": 1.0, "mp": mp}, {"const": 1.0, "mp": mp, "pass_mp": mp}
    tile = max(256, int(math.sqrt(settings.tile_pixels)))
    rows, columns = (fitted_spans(side, tile, TILE_OVERLAP, ALIGN) for side in (height, width))
    stats_mp = min(mp, (settings.stats_pixels or 4 * settings.tile_pixels) / 1e6)
    tile_mp = (rows[0][1] - rows[0][0]) * (columns[0][1] - columns[0][0]) / 1e6
    return ({"const": 1.0, "mp": mp, "tiled_mp": len(rows) * len(columns) * tile_mp, "stats_mp": stats_mp},
            {"const": 1.0, "mp": mp, "pass_mp": max(tile_mp, stats_mp)})


def video_features(frames: int, size: tuple[int, int], statistics_frames: int = 8) -> tuple[Features, Features]:
    """(time, memory) features of a video of ``frames`` frames of ``size`` (width, height), whose normalization
    statistics are first measured on ``statistics_frames`` of them (0: each frame its own)."""
    mp = size[0] * size[1] / 1e6
    return ({"const": 1.0, "frames": float(frames), "frame_mp": frames * mp,
             "stats_mp": min(frames, statistics_frames) * mp}, {"const": 1.0, "mp": mp})


def audio_features(backend: AudioBackend, settings: AudioSettings, seconds: float) -> tuple[Features, Features]:
    """(time, memory) features of an audio run on ``seconds`` of sound, with ``backend`` built."""
    frame = backend.frame
    frames = int(seconds * frame.sample_rate / frame.hop) + 1
    segment_frames = max(int(settings.segment_seconds * frame.sample_rate / frame.hop), 8)
    segments = len(spans(frames, segment_frames, max(segment_frames // 8, 4)))  # as the audio loop cuts them
    segment = min(frames, segment_frames)
    steps = (settings.steps or backend.defaults.steps) * segments
    if isinstance(backend, ShallowNet):
        widths = [conv.weight.shape for conv in backend.convs]  # (out, in, kernel)
        macs = sum(out * inp * kernel for out, inp, kernel in widths) / 1e9
        activations = sum(out for out, _, _ in widths)
        grams = sum(out * out for out, _, _ in widths) / 1e6  # a Gram matrix per layer: channels squared
    else:  # a fixed architecture: its work per frame is one constant, fitted per backend
        macs, activations, grams = 1e-3, 1e3, 0.0
    readings = steps / BALANCE_CHECK_EVERY if settings.adaptive else 0.0
    time = {"const": 1.0, "step_work": steps * segment * macs, "step_frames": steps * segment / 1e3,
            "step_grams": steps * segment * grams / 1e3, "reading_frames": readings * segment / 1e3,
            # comparing Gram matrices costs their size whatever the clip's length (0.45 s a step at 4096 filters)
            "step_gram_size": steps * grams,
            # per run: the network copied and cast for the runtime, the style's targets computed once
            "setup_weights": macs * 1e3, "setup_grams": grams,
            "phase_frames": settings.griffin_lim_iterations * frames / 1e3}
    history = min(settings.steps or backend.defaults.steps, HISTORY) if settings.optimizer == "lbfgs" else 0
    memory = {"const": 1.0, "activations": segment * activations / 1e6, "weights": macs * 1e3,
              "grams": grams, "frames": frames / 1e3, "history": history * segment * frame.bins / 1e6}
    return time, memory


# --------------------------------------------------------------------------- the fitted model

@functools.lru_cache(maxsize=1)
def coefficients() -> dict[str, dict[str, dict[str, float]]]:
    """``{model key: {"time": {feature: seconds per unit}, "memory": {feature: MB per unit}}}``."""
    text = resources.files("nst_core").joinpath("data", MODEL_FILE).read_text()
    return json.loads(text)["models"]


@functools.lru_cache(maxsize=1)
def reference_units() -> dict[str, float]:
    """The calibration units as timed on the fit's machine (see :mod:`nst_core.calibration`)."""
    text = resources.files("nst_core").joinpath("data", MODEL_FILE).read_text()
    return json.loads(text).get("units", {})


def predict(key: str, time: Features, memory: Features) -> Cost:
    """The fitted model ``key`` applied to a job's features; its time scaled to this machine once calibrated."""
    model = coefficients()[key]
    seconds = CALIBRATION.factor(key) * sum(model["time"].get(name, 0.0) * value for name, value in time.items())
    memory_mb = sum(model["memory"].get(name, 0.0) * value for name, value in memory.items())
    return Cost(max(seconds, 0.0), max(memory_mb, 0.0))


def image_key(backbone: str, runtime: Runtime) -> str:
    """Backbones of one architecture share its model (the bundled VGG19 and torchvision's differ in weights)."""
    return f"image/{backbone_spec(backbone).architecture}/{precision_class(runtime)}"


def fast_key(runtime: Runtime, compiled: bool, network: str = "fast") -> str:
    """``network``: "fast" (the feed-forward architecture), "onepass-any" (a style picture: predictor and
    transformer) or "onepass-26"."""
    return f"{network}/{precision_class(runtime)}/{'compiled' if compiled else 'eager'}"


def audio_key(backend: AudioBackend, runtime: Runtime) -> str:
    return f"audio/{backend.name}/{precision_class(runtime)}"


def image_cost(settings: ImageSettings, runtime: Runtime, content: tuple[int, int],
               styles: Sequence[tuple[int, int]]) -> Cost:
    """The optimization's cost, plus the one-pass network's at the first scale where the run starts from it
    (time adds up; memory is the larger of the two, as the network's is freed before the first step)."""
    refine = predict(image_key(settings.backbone, runtime), *image_features(settings, content, styles))
    if settings.init != "one-pass":
        return refine
    first = fitted_size(*content, settings.scales()[settings.first_scale_index()], MIN_SIDE)
    return fast_cost(FastSettings(), runtime, first, compiled=False, network="onepass-any").then(refine)


def reading_cost(pictures: Sequence[tuple[float, float]]) -> Cost:
    """Reading a request's pictures, one after another, before its network runs: (megapixels stored, megapixels
    decoded) each, as :func:`~nst_core.image.io.read_megapixels` gives them; the time scaled to this machine by
    the calibration's reading unit."""
    seconds = sum(READ_S_PER_STORED_MP * stored + READ_S_PER_DECODED_MP * decoded for stored, decoded in pictures)
    return Cost(CALIBRATION.factor(READ_UNIT) * seconds,
                max((READ_MB_PER_DECODED_MP * decoded for _, decoded in pictures), default=0.0))


def video_reading_cost(frames: int, frame_megapixels: float, file_megabits: float, *, passes: int = 1) -> Cost:
    """Decoding ``frames`` frames of a clip ``passes`` times (the clip's statistics read it once more), frames of
    ``frame_megapixels`` from a file of ``file_megabits``; the time scaled like the reading of pictures."""
    seconds = passes * (VIDEO_S_PER_FRAME_MP * frames * frame_megapixels + VIDEO_S_PER_MBIT * file_megabits)
    return Cost(CALIBRATION.factor(READ_UNIT) * seconds, VIDEO_MB + VIDEO_MB_PER_FRAME_MP * frame_megapixels)


def fast_cost(settings: FastSettings, runtime: Runtime, size: tuple[int, int], *, compiled: bool,
              network: str = "fast") -> Cost:
    return predict(fast_key(runtime, compiled, network), *fast_features(size, settings))


def video_cost(settings: VideoSettings, runtime: Runtime, frames: int, size: tuple[int, int], *,
               compiled: bool) -> Cost:
    statistics = settings.statistics_frames if settings.stability == "clip" else 0
    return predict(f"video/{precision_class(runtime)}/{'compiled' if compiled else 'eager'}",
                   *video_features(frames, size, statistics))


def audio_cost(backend: AudioBackend, settings: AudioSettings, runtime: Runtime, seconds: float) -> Cost:
    return predict(audio_key(backend, runtime), *audio_features(backend, settings, seconds))


# --------------------------------------------------------------------------- admission

def admit(cost: Cost, budget: Budget, what: str, advice: str) -> Cost:
    """``cost`` if it fits ``budget``; else :class:`~nst_core.budget.OverBudget` saying the estimate, the limit
    and ``advice`` (what to change)."""
    memory, seconds = budget.limit("memory_gb"), budget.limit("seconds")
    if memory is not None and cost.memory_gb > memory:
        raise OverBudget(f"{what} needs about {cost.memory_gb:.1f} GB of memory; this server allows {memory:g} GB "
                         f"per job: {advice}.")
    if seconds is not None and cost.seconds > seconds:
        raise OverBudget(f"{what} would take about {cost.seconds:.0f} s here; this server allows {seconds:g} s per "
                         f"job: {advice}.")
    return cost


def fits(cost: Cost, budget: Budget) -> bool:
    try:
        admit(cost, budget, "", "")
    except OverBudget:
        return False
    return True


def image_advice(settings: ImageSettings, runtime: Runtime, content: tuple[int, int],
                 styles: Sequence[tuple[int, int]], budget: Budget, reading: Cost = Cost(0.0, 0.0)) -> str:
    """What to change so that an image request fits: the largest size that does (its pictures still read in
    full: ``reading``), and auto precision."""
    import dataclasses

    if not fits(reading, budget):
        return "upload smaller pictures"
    hints = []
    if runtime.autocast_dtype is None and settings.precision == "fp32":
        hints.append("choose precision auto (about half the memory and time)")
    for size in range(settings.size - 64 - settings.size % 64, 63, -64):
        smaller = dataclasses.replace(settings, size=size, schedule=None, min_size=min(settings.min_size, size))
        if fits(reading.then(image_cost(smaller, runtime, content, styles)), budget):
            hints.append(f"use {size} px or less")
            break
    if not hints or settings.steps > STEPS:
        hints.append("or fewer steps per scale")
    return ", ".join(hints)


def largest_image_size(settings: ImageSettings, runtime: Runtime, budget: Budget, *, most: int = 2048) -> int | None:
    """The largest long side (a multiple of 64, at most ``most`` or the budget's image size) at which ``settings``
    fit ``budget`` for a 3:2 photo and a square style picture; None if none does."""
    import dataclasses

    most = int(min(most, budget.limit("image_size") or most))
    for size in range(most - most % 64, 63, -64):
        candidate = dataclasses.replace(settings, size=size, schedule=None, min_size=min(settings.min_size, size))
        if fits(image_cost(candidate, runtime, (size, round(size * 2 / 3)), [(size, size)]), budget):
            return size
    return None


def admit_image(settings: ImageSettings, runtime: Runtime, content: tuple[int, int],
                styles: Sequence[tuple[int, int]], budget: Budget, reading: Cost = Cost(0.0, 0.0)) -> Cost:
    """The cost of reading the pictures (``reading``), then of the run, if it fits ``budget``."""
    cost = reading.then(image_cost(settings, runtime, content, styles))
    if fits(cost, budget):
        return cost
    what = f"A {settings.size} px image at {settings.precision} precision"
    return admit(cost, budget, what, image_advice(settings, runtime, content, styles, budget, reading))
