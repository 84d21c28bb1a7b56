"""A video stylized frame by frame with a feed-forward style, steady from frame to frame.

Instance normalization on each frame's own statistics flickers: small changes between frames shift the
statistics, and every pixel of the output with them. With ``stability="clip"`` (the default) the statistics
are measured once, averaged over frames spread through the clip, and every frame is normalized with them,
as the tiles of a large picture share one picture's statistics. :class:`Flicker` measures the effect: the
mean absolute change between consecutive output frames divided by the same for the input.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..control import JobControl, checkpoint, controlled
from ..errors import InvalidInput
from ..events import Progress, Result
from ..image.fast.catalogue import FastModel
from ..image.fast.run import MIN_FAST_SIDE, Compiler, FastSettings, blend, network_pass, statistics_of
from ..image.io import array_to_tensor, tensor_to_array
from ..image.norms import NormStatistics
from ..optim import run_to_result
from ..options import declared, setting
from ..runtime import Precision, PreparedModels, pick_runtime
from . import io

MAX_VIDEO_SECONDS = 120.0
MAX_VIDEO_SIDE = 1280  # without an explicit long side, larger videos are scaled down to this
# A norm channel with less variance than this over the sampled frames (a tenth of the norms' eps) counts as flat.
FLAT_VARIANCE = 1e-6


@dataclass(frozen=True)
class VideoSettings(FastSettings):
    """A feed-forward stylization's knobs, and the clip's own."""

    long_side: int | None = setting(None, "Long side", "the result's long side (empty: the video's own, at most "
                                    f"{MAX_VIDEO_SIDE} px)", minimum=64, maximum=1920, step=16, unit=" px",
                                    panel="basic", budget="video_long_side")
    stability: Literal["clip", "frame"] = setting(
        "clip", "Steadiness", "clip: one set of normalization statistics for every frame (steady); frame: each frame "
        "its own", panel="advanced")
    max_seconds: float = setting(20.0, "Longest clip", "longer videos are trimmed, with a notice", minimum=0.1,
                                 maximum=MAX_VIDEO_SECONDS, unit=" s")
    statistics_frames: int = setting(8, "Statistics frames", "frames spread through the clip that the statistics "
                                     "are measured on", minimum=1, maximum=64)


@dataclass(frozen=True)
class LiveSettings(FastSettings):
    """A live webcam stream's knobs: a feed-forward stylization of frames scaled to ``frame_size``."""

    frame_size: int = setting(384, "Frame size (long side)", "frames are scaled to this before the network",
                              minimum=64, maximum=1024, step=32, unit=" px", panel="basic", budget="live_frame_side")


@dataclass(frozen=True)
class VideoProgress(Progress):
    """``done`` frames of ``total``."""


@dataclass
class VideoResult(Result):
    path: Path
    frames: int
    fps: float
    size: tuple[int, int]        # (width, height)
    flicker: float               # output change between frames / input change (lower is steadier)


class Flicker:
    """Running sums for :func:`flicker`, fed one (input, output) frame pair at a time."""

    def __init__(self) -> None:
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None
        self.input_change = self.output_change = 0.0

    def add(self, frame: torch.Tensor, styled: torch.Tensor) -> None:
        if self.previous is not None:
            self.input_change += (frame - self.previous[0]).abs().mean().item()
            self.output_change += (styled - self.previous[1]).abs().mean().item()
        self.previous = (frame, styled)

    @property
    def ratio(self) -> float:
        return self.output_change / self.input_change if self.input_change > 0 else 0.0


class FrameStylizer:
    """Stylizes frames (RGB uint8 arrays) one after another: the video loop's and the live webcam's per-frame work.

    Built once per clip or stream request: the network's prepared copy, the runtime and the statistics stay.
    """

    def __init__(self, model: FastModel, *, strength: float = 1.0, color: str = "none", precision: Precision = "auto",
                 device: str = "auto", compiler: Compiler | None = None, prepared: PreparedModels | None = None,
                 stats: NormStatistics | None = None) -> None:
        self.runtime = pick_runtime(device, precision)
        self.model = FastModel(self.runtime.prepare_model(model.net, prepared), model.style, model.condition,
                               model.identity)
        self.strength, self.color, self.compiler, self.stats = strength, color, compiler, stats
        self.condition: torch.Tensor | None = None  # settled on the first frame: every frame gets the same

    def tensor(self, rgb: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
        """(1, 3, height, width) in [0, 1], resized to ``size`` (width, height) when given."""
        return _tensor(rgb, size or (rgb.shape[1], rgb.shape[0]))

    def condition_for(self, frame: torch.Tensor) -> torch.Tensor | None:
        if self.condition is None:
            self.condition = self.model.condition_for(frame, self.strength)
        return self.condition

    def styled(self, frame: torch.Tensor) -> torch.Tensor:
        out = network_pass(self.model, frame, self.runtime, self.compiler, self.stats, self.condition_for(frame))
        return blend(out, frame, self.model.pixel_strength(self.strength), self.color)

    def __call__(self, rgb: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        return tensor_to_array(self.styled(self.tensor(rgb, size)))


def output_size(info: io.VideoInfo, long_side: int | None) -> tuple[tuple[int, int], str | None]:
    """The result's (width, height) for a video and a chosen long side, with the notice a scale-down needs;
    :class:`InvalidInput` where a side would be too short for the networks."""
    notice = None
    if long_side is None and max(info.width, info.height) > MAX_VIDEO_SIDE:
        # a 4K clip would take hours on a CPU and hold the queue meanwhile
        long_side = MAX_VIDEO_SIDE
        notice = (f"The video ({info.width}x{info.height}) was scaled to {MAX_VIDEO_SIDE} px (long side); "
                  "choose a long side to change it.")
    size = _target_size(info.width, info.height, long_side)
    _check_short_side(info, size)
    return size, notice


def _check_short_side(info: io.VideoInfo, size: tuple[int, int]) -> None:
    """Refuse a result with a side under :data:`MIN_FAST_SIDE`, naming the long side that would do."""
    if min(size) >= MIN_FAST_SIDE:
        return
    scaled = "" if size == (info.width, info.height) else f" (the result {size[0]}x{size[1]})"
    field = declared(VideoSettings, "long_side")
    needed = max(field.setting.minimum, math.ceil(MIN_FAST_SIDE * max(info.width, info.height)
                                                  / min(info.width, info.height)))
    remedy = (f"choose a long side of at least {needed:g} px" if needed <= field.setting.maximum
              else f"this clip is too narrow for them even at {field.setting.maximum:g} px")
    raise InvalidInput(f"The video is {info.width}x{info.height} pixels{scaled}; Fast styles need at least "
                       f"{MIN_FAST_SIDE} pixels a side: {remedy}.")


def _target_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """The output size: scaled to ``long_side`` if given, then even (H.264's yuv420p needs even sides)."""
    scale = long_side / max(width, height) if long_side else 1.0
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)


def _tensor(rgb: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    x = array_to_tensor(rgb)
    if (x.shape[-1], x.shape[-2]) != size:
        x = F.interpolate(x, size=(size[1], size[0]), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1)


def _clip_statistics(source: io.VideoSource, info: io.VideoInfo, stylizer: FrameStylizer, size: tuple[int, int],
                     count: int) -> NormStatistics:
    """Every norm's statistics pooled over ``count`` frames spread evenly through the clip."""
    wanted = set(np.linspace(0, info.frames - 1, min(count, info.frames)).round().astype(int).tolist())
    per_frame = []
    for index, rgb in enumerate(io.read_frames(source, info.frames, size)):
        checkpoint()  # the whole clip is decoded to reach the frames sampled
        if index in wanted:
            frame = _tensor(rgb, size)
            per_frame.append(statistics_of(stylizer.model, frame, stylizer.runtime, stylizer.compiler,
                                           condition=stylizer.condition_for(frame)))
    pooled = []
    for layer in zip(*per_frame):
        means = torch.stack([mean.float() for mean, _ in layer])
        second_moments = torch.stack([var.float() + mean.float() ** 2 for mean, var in layer])
        mean = means.mean(0)
        pooled.append((mean, (second_moments.mean(0) - mean**2).clamp_min(0)))
    return pooled


def flat(stats: NormStatistics) -> bool:
    """Whether some norm's channel has (next to) no variance over the sampled frames: normalized by it, the
    smallest departure of a frame grows by 1/sqrt(eps), about 300x, at each such layer, into NaN."""
    return any(bool((variance <= FLAT_VARIANCE).any()) for _, variance in stats)


def iter_stylize_video(source: io.VideoSource, model: FastModel, settings: VideoSettings | None = None, *,
                       output: Path | None = None, compiler: Compiler | None = None,
                       prepared: PreparedModels | None = None,
                       control: JobControl | None = None) -> Iterator[VideoProgress | VideoResult]:
    """Stylize the video ``source`` into the MP4 ``output``: a progress event per frame, then the result;
    ``control`` cancels it between frames. Without an ``output`` the MP4 goes to a new temporary file."""
    if output is None:
        handle, name = tempfile.mkstemp(prefix="stylized-", suffix=".mp4")
        os.close(handle)
        output = Path(name)
    return controlled(_iter_stylize_video(source, model, settings or VideoSettings(), output, compiler, prepared),
                      control)


def _iter_stylize_video(source: io.VideoSource, model: FastModel, settings: VideoSettings, output: Path,
                        compiler: Compiler | None, prepared: PreparedModels | None
                        ) -> Iterator[VideoProgress | VideoResult]:
    settings.check()
    started = time.perf_counter()
    info = io.probe(source, settings.max_seconds)
    stylizer = FrameStylizer(model, strength=settings.strength, color=settings.color, precision=settings.precision,
                             device=settings.device, compiler=compiler, prepared=prepared)
    size, notice = output_size(info, settings.long_side)
    info.notices += [notice] if notice else []
    if settings.stability == "clip":
        stats = _clip_statistics(source, info, stylizer, size, settings.statistics_frames)
        if flat(stats):
            info.notices.append("The frames the clip's statistics were read from are flat (one colour each), so "
                                "each frame was normalized frame by frame, on its own.")
        else:
            stylizer.stats = stats
    writer = io.VideoWriter(Path(output), *size, info.fps, source if info.has_audio else None, info.seconds)
    meter, written = Flicker(), 0
    try:
        for rgb in io.read_frames(source, info.frames, size):
            checkpoint()
            frame = stylizer.tensor(rgb, size)
            styled = stylizer.styled(frame)
            meter.add(frame, styled)
            writer.write(tensor_to_array(styled))
            written += 1
            yield VideoProgress(written, info.frames)
    finally:
        writer.close()
    if written == 0:
        raise InvalidInput("The video has no frames that can be decoded.")
    label = stylizer.runtime.label + (f", {compiler.label()}" if compiler is not None else "")
    record = {"style": model.style.title, **dataclasses.asdict(settings), "compiled": compiler is not None,
              "runtime": label}
    yield VideoResult(Path(output), written, float(info.fps), size, meter.ratio, seconds=time.perf_counter() - started,
                      runtime=label, settings=record, notices=info.notices,
                      facts={"frames": written, "flicker": meter.ratio, "fps": float(info.fps)})


def stylize_video(source: io.VideoSource, model: FastModel, settings: VideoSettings | None = None, *,
                  output: Path | None = None, compiler: Compiler | None = None, prepared: PreparedModels | None = None,
                  on_progress: Callable[[VideoProgress], None] | None = None,
                  control: JobControl | None = None) -> VideoResult:
    """Run :func:`iter_stylize_video` to the end; ``on_progress`` sees every frame."""
    return run_to_result(iter_stylize_video(source, model, settings, output=output, compiler=compiler,
                                            prepared=prepared, control=control), VideoResult, on_progress)
