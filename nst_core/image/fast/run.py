"""Stylizing with a feed-forward network: any size, large pictures tile by tile, optionally compiled.

Images are padded to a multiple of 4 and cropped back. Above ``tile_pixels`` the network runs on
overlapping tiles (memory stays bounded whatever the input) whose instance-norm statistics come from one
pass over a copy of the whole picture, so that tiles agree and no seams show; tiles are cross-faded with
:mod:`nst_core.windows`. ``iter_stylize_fast`` yields a :class:`FastProgress` per tile, then the
:class:`FastResult`; ``stylize_fast`` runs it to the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ... import windows
from ...control import Activity, JobControl, checkpoint, controlled, wait_until_quiet
from ...errors import InvalidInput
from ...events import Progress, Result
from ...optim import run_to_result
from ...options import Limits, check_settings, setting
from ...runtime import (
    Precision,
    PreparedModels,
    Runtime,
    freeze,
    pick_runtime,
    remove_broken_kernel,
    separate_compiled_kernels,
)
from ..color import keep_content_colors
from ..io import ImageSource, load_image, to_pil, to_tensor
from ..norms import NormStatistics
from .model import FastModel, FastStyle, from_network, pad4, to_network
from .network import TransformerNet

log = logging.getLogger(__name__)

TILE_PIXELS = 1024 * 1024
MIN_FAST_SIDE = 16  # the network's 9x9 reflection-padded convolutions need pictures larger than that
TILE_OVERLAP = 64
ALIGN = 4  # the networks' two stride-2 stages: tiles start on the whole picture's grid (see pad4)
MAX_FAST_SIDE = 6000
WARM_UP_PATIENCE_S = 60.0  # how long a warm-up waits for a moment without requests before it builds regardless


@dataclass(frozen=True)
class FastSettings:
    """Every knob of a feed-forward stylization."""

    strength: float = setting(1.0, "Style strength", "0 keeps the photo, 1 is the full style (any picture: from the "
                              "photo's own style to the picture's; other styles: a blend with the photo)",
                              minimum=0.0, maximum=1.0, step=0.05, panel="basic")
    color: Literal["none", "luminance"] = setting("none", "Colour", "luminance: keep the photo's colours",
                                                  panel="basic")
    precision: Precision = setting("auto", "Precision", "auto: bf16/fp16 where the hardware is fast at it",
                                   panel="advanced")
    device: str = setting("auto", "Device", "auto, cpu, cuda or cuda:N")
    tile_pixels: int = setting(TILE_PIXELS, "Tile size", "above this many pixels the network runs tile by tile",
                               minimum=64 * 64, maximum=2**31 - 1)
    stats_pixels: int | None = setting(None, "Statistics size", "the size of the copy tiles take statistics from "
                                       "(None: 4 tiles)", minimum=64 * 64, maximum=2**31 - 1)
    max_side: int = setting(MAX_FAST_SIDE, "Largest side", "larger pictures are scaled down (with a notice)",
                            minimum=MIN_FAST_SIDE, maximum=MAX_FAST_SIDE, unit=" px")

    def check(self, limits: Limits | None = None) -> None:
        check_settings(self, limits)


@dataclass(frozen=True)
class FastProgress(Progress):
    """``done`` tiles of ``total``."""


@dataclass
class FastResult(Result):
    image: Image.Image
    tiles: int


def _autocast_forward(net: nn.Module, x: torch.Tensor, device_type: str, dtype: torch.dtype | None,
                      stats: NormStatistics | None, condition: torch.Tensor | None) -> torch.Tensor:
    with torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return net(x, stats, None, condition)


def _autocast_statistics(net: TransformerNet, x: torch.Tensor, device_type: str, dtype: torch.dtype | None,
                         condition: torch.Tensor | None) -> NormStatistics:
    with torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return net.statistics(x, condition)


# At most this many broken cached kernels removed (each a different file, each followed by a new compile) before
# a compiler gives up for good.
KERNEL_REBUILDS = 16


def graph_key(function: Callable, args: tuple) -> tuple:
    """What decides whether ``function(*args)`` needs a graph of its own (shapes are dynamic, weights are inputs):
    the network's architecture and size, which inputs are given, dtypes and devices, the other values."""
    def part(value: object) -> object:
        if isinstance(value, torch.Tensor):
            return "tensor", value.dtype, value.dim(), value.device.type
        if isinstance(value, nn.Module):
            return type(value), sum(parameter.numel() for parameter in value.parameters())
        if isinstance(value, (list, tuple)):
            return tuple(part(item) for item in value)
        return value
    return function, *(part(value) for value in args)


def mark_picture_sizes_dynamic(args: tuple) -> None:
    """A picture's height and width are the only sizes that vary between calls: only they are symbols. Every size
    a symbol (``dynamic=True``, the weights' too) ran no faster, compiled 1.15x slower and loaded from the cache 2x
    slower (docs/benchmarks.md, "Only the picture's size a symbol")."""
    for value in args:
        if isinstance(value, torch.Tensor) and value.dim() == 4:
            for dim in (2, 3):
                if value.shape[dim] > 1:  # a size of 1 is always specialized; marking it would fail the compile
                    torch._dynamo.mark_dynamic(value, dim)


class Compiler:
    """Runs the network through ``torch.compile`` where that works, eagerly where it does not.

    Owned by whoever serves requests (the app keeps one for its lifetime) and passed to the runs that may
    use it. Three graphs (a whole picture, the statistics of a large one, its tiles) serve every image size
    (the picture's height and width are symbols) and every TransformerNet (weights are graph inputs). Inductor
    needs a C++ compiler on CPU; the three graphs cost about 50 s on a 2-core CPU the first time (about 6 s from
    its on-disk cache), and afterwards a pass is 1.2x (512 px) to 1.8x (1024 px) faster than eager bf16. If
    compiling fails once, the reason is kept and every later call runs eagerly.
    A call that needs a graph not built yet while another thread builds one (the app's warm-up: minutes on a
    cold cache) does not wait for it: it runs eagerly, and :meth:`label` says so; only :meth:`patiently` waits.
    Between :meth:`hold_builds` and :meth:`release_builds` (a server's start, until its warm-up has run) only a
    patient thread builds graphs: a request that arrives before the warm-up has taken the lock runs eagerly too,
    instead of building a graph while its visitor waits (37 s on a cold cache, against 1 s eagerly).
    """

    def __init__(self) -> None:
        separate_compiled_kernels()
        self.lock = threading.Lock()  # held while a graph is built, not while a built one runs
        self.error: str | None = None
        self._compiled: dict[Callable, Callable] = {}
        self._built: set[tuple] = set()  # graph_key of every call that ran compiled
        self._thread = threading.local()  # per thread: ``eager`` (a call ran eagerly while another compiled),
                                          # ``patient`` (waits for the lock instead: the warm-up)
        self._builds_open = threading.Event()
        self._builds_open.set()

    def hold_builds(self) -> None:
        """From now on only patient threads build graphs (the others run eagerly) until :meth:`release_builds`."""
        self._builds_open.clear()

    def release_builds(self) -> None:
        self._builds_open.set()

    def run(self, function: Callable, *args: object) -> object:
        """``function(*args)`` compiled, or eagerly once compiling has failed or while another thread builds a
        graph and this call would need a new one."""
        if self.error is not None:
            return function(*args)
        key = graph_key(function, args)
        if key in self._built:
            return self._compiled_call(function, args, key)
        patient = getattr(self._thread, "patient", False)
        if not (patient or self._builds_open.is_set()) or not self.lock.acquire(blocking=patient):
            self._thread.eager = True
            return function(*args)
        try:
            return self._compiled_call(function, args, key)
        finally:
            self.lock.release()

    def _compiled_call(self, function: Callable, args: tuple, key: tuple) -> object:
        removed: set[str] = set()
        for _ in range(KERNEL_REBUILDS + 1):
            try:
                compiled = self._compiled.get(function)
                if compiled is None:
                    compiled = self._compiled[function] = torch.compile(function)
                mark_picture_sizes_dynamic(args)
                result = compiled(*args)
                self._built.add(key)
                return result
            except Exception as exc:  # noqa: BLE001 - any compiler failure; eager below re-raises real errors
                failure = exc
                if not remove_broken_kernel(exc, removed):
                    break
                self._compiled.pop(function, None)
                log.warning("a broken compiled kernel was removed from the compile cache; compiling again")
        # Logged before the eager call, so that the compiler's reason is on record even if that call fails too.
        log.warning("torch.compile is unavailable, running eagerly: %s", failure)
        result = function(*args)  # if this fails too, the input or memory is at fault, not the compiler
        first_line = (str(failure).strip().splitlines() or [""])[0]
        self.error = f"{type(failure).__name__}: {first_line}"
        return result

    @contextlib.contextmanager
    def patiently(self) -> Iterator[None]:
        """Calls of this thread wait for another thread's build instead of running eagerly (the warm-up: it is
        there to build every graph)."""
        self._thread.patient = True
        try:
            yield
        finally:
            self._thread.patient = False

    @property
    def ready(self) -> bool:
        """Whether a call now would run compiled: no failure, builds not held and no thread building a graph (a
        call then runs eagerly; a call whose graph is not built yet builds it, which is not counted here)."""
        return self.error is None and self._builds_open.is_set() and not self.lock.locked()

    def label(self) -> str:
        """How this thread's passes since its last label ran, for the page and the result's record (a compiler's
        failure is named in the server's log only: it may name server files)."""
        if self.error:
            return "eager (compiling is unavailable on this server)"
        waited, self._thread.eager = getattr(self._thread, "eager", False), False
        return "eager (the compiled network was still being built)" if waited else "compiled"


def _run(net: nn.Module, x: torch.Tensor, runtime: Runtime, compiler: Compiler | None,
         stats: NormStatistics | None = None, condition: torch.Tensor | None = None) -> torch.Tensor:
    """One pass, cropped back to the input's size."""
    height, width = x.shape[-2:]
    x = runtime.prepare_input(pad4(x))
    condition = condition.to(runtime.device) if condition is not None else None
    args = (net, x, runtime.device.type, runtime.autocast_dtype, stats, condition)
    with torch.inference_mode():
        y = compiler.run(_autocast_forward, *args) if compiler is not None else _autocast_forward(*args)
    return y[..., :height, :width].float()


def _statistics(net: TransformerNet, x: torch.Tensor, runtime: Runtime, compiler: Compiler | None,
                stats_pixels: int, condition: torch.Tensor | None = None) -> NormStatistics:
    """The instance norms' statistics of the whole picture, from a copy of at most ``stats_pixels``."""
    height, width = x.shape[-2:]
    scale = min(1.0, math.sqrt(stats_pixels / (height * width)))
    small = F.interpolate(x, scale_factor=scale, mode="area") if scale < 1 else x
    condition = condition.to(runtime.device) if condition is not None else None
    args = (net, runtime.prepare_input(pad4(small)), runtime.device.type, runtime.autocast_dtype, condition)
    with torch.inference_mode():
        return compiler.run(_autocast_statistics, *args) if compiler is not None else _autocast_statistics(*args)


def _tiles(net: TransformerNet, x: torch.Tensor, runtime: Runtime, compiler: Compiler | None, tile: int,
           stats_pixels: int, condition: torch.Tensor | None) -> Iterator[FastProgress | torch.Tensor]:
    """Tiles with linear cross-fades in the overlaps, normalized with whole-image statistics: progress per tile,
    then the blended output."""
    height, width = x.shape[-2:]
    stats = _statistics(net, x, runtime, compiler, stats_pixels, condition)
    rows, columns = (windows.fitted_spans(side, tile, TILE_OVERLAP, ALIGN) for side in (height, width))
    out = torch.zeros(1, 3, height, width)
    total = torch.zeros(1, 1, height, width)
    for row, (y0, y1) in enumerate(rows):
        for column, (x0, x1) in enumerate(columns):
            checkpoint()
            result = _run(net, x[..., y0:y1, x0:x1], runtime, compiler, stats, condition)
            weight = windows.fade_weights(rows, row)[:, None] * windows.fade_weights(columns, column)[None, :]
            out[..., y0:y1, x0:x1] += result * weight
            total[..., y0:y1, x0:x1] += weight
            yield FastProgress(row * len(columns) + column + 1, len(rows) * len(columns))
    yield out / total.clamp_min(1e-6)


def network_pass(model: FastModel, rgb01: torch.Tensor, runtime: Runtime, compiler: Compiler | None = None,
                 stats: NormStatistics | None = None, condition: torch.Tensor | None = None) -> torch.Tensor:
    """One pass of ``model`` (already prepared for ``runtime``) on an RGB picture in [0, 1]; RGB [0, 1] out."""
    return from_network(_run(model.net, to_network(rgb01, model.style), runtime, compiler, stats, condition),
                        model.style)


def blend(styled: torch.Tensor, photo: torch.Tensor, strength: float, color: str) -> torch.Tensor:
    """The style strength (a mix with the photo) and the colour choice, applied to a network's output."""
    if strength < 1.0:
        styled = strength * styled + (1.0 - strength) * photo
    return keep_content_colors(styled, photo) if color == "luminance" else styled


def statistics_of(model: FastModel, rgb01: torch.Tensor, runtime: Runtime, compiler: Compiler | None = None,
                  max_pixels: int = 4 * TILE_PIXELS, condition: torch.Tensor | None = None) -> NormStatistics:
    """The instance norms' statistics of a picture in [0, 1] (from a copy of at most ``max_pixels``)."""
    return _statistics(model.net, to_network(rgb01, model.style), runtime, compiler, max_pixels, condition)


def iter_stylize_fast(content: ImageSource, model: FastModel, settings: FastSettings | None = None, *,
                      compiler: Compiler | None = None, prepared: PreparedModels | None = None,
                      control: JobControl | None = None) -> Iterator[FastProgress | FastResult]:
    """Stylize ``content`` with ``model`` in one pass (or tile by tile): progress per tile, then the result.

    ``compiler`` runs the network through ``torch.compile`` (see :class:`Compiler`; call :func:`warm_up`
    first to move the one-off compilation out of the first request); without one the network runs eagerly.
    ``prepared`` keeps the network's prepared copy for the next run (see :class:`~nst_core.runtime.PreparedModels`);
    ``control`` cancels the run between tiles.
    """
    return controlled(_iter_stylize_fast(content, model, settings or FastSettings(), compiler, prepared), control)


def _iter_stylize_fast(content: ImageSource, model: FastModel, settings: FastSettings, compiler: Compiler | None,
                       prepared: PreparedModels | None) -> Iterator[FastProgress | FastResult]:
    settings.check()
    started = time.perf_counter()
    loaded = load_image(content, label="content image", max_pixels=settings.max_side * settings.max_side)
    if min(loaded.image.size) < MIN_FAST_SIDE:
        width, height = loaded.image.size
        raise InvalidInput(f"The content image is {width}x{height} pixels; Fast styles need at least "
                           f"{MIN_FAST_SIDE} pixels a side.")
    runtime = pick_runtime(settings.device, settings.precision)
    net = runtime.prepare_model(model.net, prepared)
    x = to_tensor(loaded.image)
    inputs = to_network(x, model.style)
    condition = model.condition_for(x, settings.strength)
    height, width = x.shape[-2:]
    if height * width > settings.tile_pixels:
        tile = max(256, int(math.sqrt(settings.tile_pixels)))
        stats_pixels = settings.stats_pixels or 4 * settings.tile_pixels
        for event in _tiles(net, inputs, runtime, compiler, tile, stats_pixels, condition):
            if isinstance(event, FastProgress):
                tiles = event.total
                yield event
            else:
                y = event
    else:
        y, tiles = _run(net, inputs, runtime, compiler, condition=condition), 1
        yield FastProgress(1, 1)
    out = blend(from_network(y, model.style), x, model.pixel_strength(settings.strength), settings.color)
    label = runtime.label + (f", {compiler.label()}" if compiler is not None else "")
    record = {"style": model.style.title, **dataclasses.asdict(settings), "compiled": compiler is not None,
              "runtime": label}
    if condition is not None:  # a conditional network's style vector or style weights: enough to repeat the run
        record["condition"] = [round(value, 6) for value in condition.flatten().tolist()]
    yield FastResult(to_pil(out), tiles, seconds=time.perf_counter() - started, runtime=label, settings=record,
                     notices=loaded.notices, facts={"tiles": tiles})


def stylize_fast(content: ImageSource, model: FastModel, settings: FastSettings | None = None, *,
                 compiler: Compiler | None = None, prepared: PreparedModels | None = None,
                 on_progress: Callable[[FastProgress], None] | None = None,
                 control: JobControl | None = None) -> FastResult:
    """Run :func:`iter_stylize_fast` to the end; ``on_progress`` sees every tile."""
    return run_to_result(iter_stylize_fast(content, model, settings, compiler=compiler, prepared=prepared,
                                           control=control), FastResult, on_progress)


def warm_up_models() -> list[FastModel]:
    """A network of the feed-forward architecture with random weights: what :func:`warm_up` compiles by default."""
    return [FastModel(freeze(TransformerNet()), FastStyle("warm-up", "warm-up", "", value_range=255,
                                                          channel_order="rgb"))]


def warm_up(compiler: Compiler, precision: Precision = "auto", device: str = "auto", *,
            models: list[FastModel] | None = None, stop: threading.Event | None = None,
            activity: Activity | None = None, patience_s: float = WARM_UP_PATIENCE_S) -> float:
    """Compile the whole-image and the tile graphs of each of ``models`` (default :func:`warm_up_models`) ahead of
    the first request; returns the seconds spent. ``stop`` ends it between graphs (a server shutting down).
    Given a server's request ``activity``, each graph waits (up to ``patience_s``) until no request runs:
    building one holds the interpreter lock for seconds (even from a warm cache), and a request beside the
    builds took twice its time.

    The graphs serve every network of the same architecture (weights are inputs) and every size; a non-square
    input keeps height and width independent symbols, so a later non-square image does not recompile.
    """
    started = time.perf_counter()
    pictures = [to_pil(torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)))
                for h, w in ((72, 100), (88, 124), (300, 280))]
    # Whole pictures of two sizes, and tiles of two (a 256 px tile and the edge's remainder): a graph that has seen
    # its sizes vary is compiled for any size (one that has seen a single size may be specialized to it).
    with compiler.patiently():  # requests meanwhile run eagerly; the warm-up builds every graph
        for model in models or warm_up_models():
            for image, tile_pixels in zip(pictures, (TILE_PIXELS, TILE_PIXELS, 64 * 64)):
                if activity is not None:
                    wait_until_quiet(activity, time.monotonic() + patience_s, stop)
                if stop is not None and stop.is_set():
                    return time.perf_counter() - started
                stylize_fast(image, model, FastSettings(precision=precision, device=device,
                                                        tile_pixels=tile_pixels), compiler=compiler)
    return time.perf_counter() - started
