"""Feed-forward style networks (Johnson et al. 2016, with instance normalization): one pass per image.

* :class:`TransformerNet`: the architecture of the published ``maze/FastStyleTransfer`` checkpoints
  and of the models ``train_fast`` writes.
* A catalogue of pretrained styles (:data:`CATALOGUE`), each stating its source, value range,
  colour order and licence.
* Loading: catalogue ``.pth`` files by *position* with shape checks (their attribute names are not
  ours to rely on), user models from safetensors + JSON only. Nothing is ever unpickled freely.
* :func:`stylize_fast`: any size (padded to a multiple of 4 and cropped back), large images in
  overlapping tiles whose instance-norm statistics come from the whole picture, so tiles agree and
  no seams show; style strength and colour preservation.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .. import hub
from ..errors import InvalidInput, NSTError, WeightsMismatch
from ..health import CHECK_PHOTO, HealthResult
from ..runtime import Precision, Runtime, freeze, pick_runtime
from .color import keep_content_colors
from .io import ImageSource, load_image, to_pil, to_tensor

log = logging.getLogger(__name__)

ValueRange = Literal[1, 255]
ChannelOrder = Literal["rgb", "bgr"]
FAST_ARCHITECTURE = "johnson-instancenorm-v1"
# Above this many pixels the network runs tile by tile (memory stays bounded whatever the input).
TILE_PIXELS = 1024 * 1024
TILE_OVERLAP = 64
MAX_FAST_SIDE = 6000


NormMode = Literal["own", "record", "shared"]


class InstanceNorm(nn.InstanceNorm2d):
    """Instance norm that can also record its statistics, or apply recorded ones (for tiles).

    Per-tile statistics differ from tile to tile (a sky tile, a face tile) and show as seams; with the
    statistics of one pass over (a copy of) the whole picture, all tiles are normalized alike. The
    statistics live in non-persistent buffers, so checkpoints keep the published layout, and the mode
    is a plain attribute, so a compiled network keeps one graph per mode.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.mode: NormMode = "own"
        self.register_buffer("shared_mean", torch.zeros(1, channels, 1, 1), persistent=False)
        self.register_buffer("shared_var", torch.ones(1, channels, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "own":
            return super().forward(x)
        if self.mode == "record":
            var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
            self.shared_var.copy_(var)
            self.shared_mean.copy_(mean)
        y = (x.float() - self.shared_mean) * torch.rsqrt(self.shared_var + self.eps)
        return (y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)).to(x.dtype)


def set_norm_mode(net: nn.Module, mode: NormMode) -> None:
    for module in net.modules():
        if isinstance(module, InstanceNorm):
            module.mode = mode


class ConvNormAct(nn.Module):
    """Reflection padding, convolution, optional instance norm and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True,
                 relu: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.norm = InstanceNorm(cout) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x


class UpConvNormAct(nn.Module):
    """Transposed convolution (x2), instance norm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        self.norm = InstanceNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.deconv(x)))


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(channels, channels, 3)
        self.conv2 = ConvNormAct(channels, channels, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class TransformerNet(nn.Module):
    """Downsample x4, five residual blocks of 128 channels, upsample x4 (Johnson et al. 2016)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(ConvNormAct(3, 32, 9), ConvNormAct(32, 64, 3, 2), ConvNormAct(64, 128, 3, 2))
        self.residual = nn.Sequential(*(Residual(128) for _ in range(5)))
        self.up = nn.Sequential(UpConvNormAct(128, 64), UpConvNormAct(64, 32))
        self.out = ConvNormAct(32, 3, 9, norm=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.up(self.residual(self.down(x))))


# --------------------------------------------------------------------------- catalogue and loading

Palette = Literal["red", "blue"]


@dataclass(frozen=True)
class FastStyle:
    """A pretrained feed-forward style: where its weights are and how it expects its pixels."""

    key: str                     # weights key in the hub registry, or "file:<name>" / "hub:<repo>" for user models
    title: str
    artist: str
    value_range: ValueRange      # the network sees pixels in [0, 1] or [0, 255]
    channel_order: ChannelOrder  # the order of colour channels it was trained with
    architecture: str = FAST_ARCHITECTURE
    license: str = ""
    note: str = ""
    # The painting's dominant side of the red-blue axis, where it is clear: a stylization read in the wrong
    # colour order shows the opposite one, so the health check can tell the orders apart.
    palette: Palette | None = None


@dataclass(frozen=True)
class FastModel:
    """A loaded feed-forward network together with the catalogue facts it must be run with."""

    net: TransformerNet
    style: FastStyle


# The order a catalogue file's (value range, colour order) candidates are tried in by its health check.
# RGB first: the publisher's Space feeds the network a PIL image (RGB), and its requirements
# (torch, torchvision, Pillow; no OpenCV) leave no BGR conversion in its processing.
CANDIDATES: tuple[tuple[ValueRange, ChannelOrder], ...] = ((255, "rgb"), (1, "rgb"), (255, "bgr"), (1, "bgr"))
_MAZE_REPO = "maze/FastStyleTransfer"
# The head of main, "Upload Mosaic_512.pth with git-lfs" (8 commits, all four files present):
# https://huggingface.co/maze/FastStyleTransfer/commit/2292765a1bd2cf04d8b005eadc0fc76df23f5df0
_MAZE_REVISION = "2292765a1bd2cf04d8b005eadc0fc76df23f5df0"
_MAZE_LICENSE = "MIT (https://huggingface.co/maze/FastStyleTransfer/commit/2d50a8b3ffaf808afdc1c5e01369e8f136fdb67d)"


def _register_maze(name: str, title: str, artist: str, sha256: str, sha_page: str,
                   palette: Palette | None) -> FastStyle:
    key = f"fast-{name.lower()}"
    hub.register(hub.WeightEntry(
        key=key, source=hub.HubFile(_MAZE_REPO, f"{name}_512.pth", _MAZE_REVISION, sha256=sha256),
        convert=hub.as_is, description=f"Feed-forward network for {title}", license="MIT", size_mb=6.74,
        check=settle_catalogue_style(key), check_source=FAST_CHECK_SOURCE,
        pin_source=sha_page or "https://huggingface.co/maze/FastStyleTransfer/tree/main (no sha256 published)",
    ))
    return FastStyle(key, title, artist, value_range=255, channel_order="rgb", license="MIT",
                     note="value range and colour order settled by the health check on first load", palette=palette)


_IGNORED_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _groups(tensors: dict[str, torch.Tensor]) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """Tensors grouped by the module that owns them, in the file's (module registration) order."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.endswith(_IGNORED_BUFFERS):
            continue
        module, _, parameter = name.rpartition(".")
        groups.setdefault(module, {})[parameter] = tensor
    return list(groups.items())


def load_by_module_names(net: nn.Module, tensors: dict[str, torch.Tensor], origin: str) -> nn.Module:
    """Load a checkpoint whose module names are its own (``ConvBlock.0.conv``, ...), reading them from the file.

    Modules are matched in the file's order (a pickled state dict keeps registration order); within a module,
    tensors are matched by their own names (``weight``, ``bias``), so a conv bias can never land in a norm
    weight of the same shape; every shape is checked.
    """
    ours, theirs = _groups(net.state_dict()), _groups(tensors)
    if len(theirs) != len(ours):
        raise WeightsMismatch(f"{origin}: {len(theirs)} modules with weights, the network has {len(ours)}")
    state = {}
    for (our_module, our_params), (their_module, their_params) in zip(ours, theirs):
        if set(their_params) != set(our_params):
            raise WeightsMismatch(f"{origin}: module {their_module} holds {sorted(their_params)}, expected "
                                  f"{sorted(our_params)} for {our_module}")
        for parameter, tensor in our_params.items():
            theirs_tensor = their_params[parameter]
            if tuple(theirs_tensor.shape) != tuple(tensor.shape):
                raise WeightsMismatch(f"{origin}: {their_module}.{parameter} has shape {tuple(theirs_tensor.shape)}, "
                                      f"expected {tuple(tensor.shape)} for {our_module}.{parameter}")
            state[f"{our_module}.{parameter}"] = theirs_tensor.float()
    net.load_state_dict(state, strict=True)
    return net


def _catalogue_net(raw: object, origin: str) -> TransformerNet:
    if not isinstance(raw, dict) or not all(isinstance(t, torch.Tensor) for t in raw.values()):
        raise WeightsMismatch(f"{origin}: expected a dict of tensors")
    return freeze(load_by_module_names(TransformerNet(), raw, origin))


def load_catalogue_style(title: str) -> FastModel:
    """A catalogue style, its file checksum-verified and its network health-checked (cached per title)."""
    style = CATALOGUE.get(title)
    if style is None:
        raise InvalidInput(f"Unknown style {title!r}; choose one of {', '.join(CATALOGUE)}.")
    return _load_catalogue_style(style)


@functools.lru_cache(maxsize=8)
def _load_catalogue_style(style: FastStyle) -> FastModel:
    raw, result = hub.load_checked(style.key)
    settled = style if result is None else dataclasses.replace(
        style, value_range=result.facts["value_range"], channel_order=result.facts["channel_order"],
        note=result.detail)
    return FastModel(_catalogue_net(raw, hub.entry(style.key).source.describe()), settled)


def save_fast_model(net: TransformerNet, folder: str | Path, style: FastStyle, extra: dict | None = None) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json``: the layout of a Hub repo for the app."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in net.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"))
    config = {**asdict(style), **(extra or {})}
    config.pop("key", None)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return folder / "model.safetensors"


def load_fast_model(weights: str | Path, config: str | Path | dict | None = None, *,
                    origin: str | None = None) -> FastModel:
    """A user model: safetensors weights (never pickle) and its JSON config; ``origin`` names it in messages."""
    weights = Path(weights)
    if weights.suffix != ".safetensors":
        raise InvalidInput("Upload a .safetensors model (with its .json config); pickled files are not loaded.")
    if config is None:
        config = weights.parent / "config.json"
    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise InvalidInput("The model's config.json is missing; upload it with the weights.")
        try:
            config = json.loads(Path(config).read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The model's config is not valid JSON ({exc}).") from exc
    origin = origin or weights.name
    style = _style_from_config(config, key=f"file:{origin}")
    net = TransformerNet()
    try:
        hub.load_strict(net, hub.read_file(weights, origin), origin)
    except WeightsMismatch as exc:
        raise InvalidInput(str(exc)) from exc
    return FastModel(freeze(net), style)


def _style_from_config(config: object, key: str) -> FastStyle:
    if not isinstance(config, dict):
        raise InvalidInput("The model's config must be a JSON object.")
    if config.get("architecture", FAST_ARCHITECTURE) != FAST_ARCHITECTURE:
        raise InvalidInput(f"Unsupported architecture {config.get('architecture')!r}; expected {FAST_ARCHITECTURE}.")
    value_range = config.get("value_range", 255)
    order = config.get("channel_order", "rgb")
    if value_range not in (1, 255) or order not in ("rgb", "bgr"):
        raise InvalidInput("The config's value_range must be 1 or 255 and channel_order 'rgb' or 'bgr'.")
    return FastStyle(key, str(config.get("title", "custom style")), str(config.get("artist", "")),
                     value_range=value_range, channel_order=order, license=str(config.get("license", "")))


def load_hub_model(repo_id: str, revision: str = "main") -> FastModel:
    """A model published by ``train_fast`` (``model.safetensors`` + ``config.json``) in a Hub repo."""
    repo_id = hub.parse_repo_id(repo_id)
    paths = {name: hub.weight_path(hub.user_hub_file(repo_id, name, revision))
             for name in ("model.safetensors", "config.json")}
    return load_fast_model(paths["model.safetensors"], paths["config.json"], origin=f"hf://{repo_id}")


# --------------------------------------------------------------------------- stylizing

@dataclass
class FastResult:
    image: Image.Image
    seconds: float
    runtime: str
    tiles: int
    notices: list[str] = field(default_factory=list)


def _to_network(rgb01: torch.Tensor, style: FastStyle) -> torch.Tensor:
    x = rgb01.flip(1) if style.channel_order == "bgr" else rgb01
    return x * style.value_range


def _from_network(y: torch.Tensor, style: FastStyle) -> torch.Tensor:
    y = y.float() / style.value_range
    return (y.flip(1) if style.channel_order == "bgr" else y).clamp(0, 1)


def _autocast_forward(net: nn.Module, x: torch.Tensor, device_type: str, dtype: torch.dtype | None) -> torch.Tensor:
    with torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return net(x)


@functools.cache
def _compiled_forward():
    # One graph for every image size (dynamic shapes) and every TransformerNet: weights are graph inputs.
    return torch.compile(_autocast_forward, dynamic=True)


class Compiler:
    """Runs the network through ``torch.compile`` where that works, eagerly where it does not.

    Inductor needs a C++ compiler on CPU and costs ~20 s on a 2-core CPU the first time (less with its
    on-disk cache); afterwards a pass is ~2x faster than eager bf16. If compiling fails once, the
    reason is kept and every later call runs eagerly.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one compilation at a time; warm-up and requests queue here
        self.error: str | None = None

    def forward(self, net: nn.Module, x: torch.Tensor, runtime: Runtime, compiled: bool) -> torch.Tensor:
        args = (net, x, runtime.device.type, runtime.autocast_dtype)
        if compiled and self.error is None:
            try:
                with self.lock:
                    return _compiled_forward()(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure; eager below re-raises real errors
                y = _autocast_forward(*args)  # if this fails too, the input or memory is at fault, not the compiler
                first_line = (str(exc).strip().splitlines() or [""])[0]
                self.error = f"{type(exc).__name__}: {first_line}"
                log.warning("torch.compile is unavailable, running eagerly: %s", self.error)
                return y
        return _autocast_forward(*args)


COMPILER = Compiler()


def _run(net: nn.Module, x: torch.Tensor, runtime: Runtime, compiled: bool) -> torch.Tensor:
    """One pass; pads to a multiple of 4 (two stride-2 stages) and crops back to the input's size."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % 4, (-width) % 4
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > 4 else "replicate")
    with torch.inference_mode():
        y = COMPILER.forward(net, runtime.prepare_input(x), runtime, compiled)
    return y[..., :height, :width].float()


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    weight = torch.ones(length)
    fade = torch.linspace(0, 1, overlap + 2)[1:-1]
    if not at_start:
        weight[:overlap] = fade
    if not at_end:
        weight[-overlap:] = fade.flip(0)
    return weight


def _run_tiled(net: nn.Module, x: torch.Tensor, runtime: Runtime, compiled: bool, tile: int, overlap: int,
               stats_pixels: int) -> tuple[torch.Tensor, int]:
    """Tiles with linear cross-fades in the overlaps, normalized with whole-image statistics."""
    height, width = x.shape[-2:]
    try:
        scale = min(1.0, math.sqrt(stats_pixels / (height * width)))
        small = F.interpolate(x, scale_factor=scale, mode="area") if scale < 1 else x
        set_norm_mode(net, "record")
        _run(net, small, runtime, compiled)
        set_norm_mode(net, "shared")
        out = torch.zeros(1, 3, height, width)
        total = torch.zeros(1, 1, height, width)
        ys, xs = _tile_starts(height, tile, overlap), _tile_starts(width, tile, overlap)
        for y0 in ys:
            for x0 in xs:
                patch = x[..., y0:y0 + tile, x0:x0 + tile]
                result = _run(net, patch, runtime, compiled)
                h, w = patch.shape[-2:]
                weight = (_ramp(h, overlap, y0 == 0, y0 + h >= height)[:, None]
                          * _ramp(w, overlap, x0 == 0, x0 + w >= width)[None, :])
                out[..., y0:y0 + h, x0:x0 + w] += result * weight
                total[..., y0:y0 + h, x0:x0 + w] += weight
        return out / total.clamp_min(1e-6), len(ys) * len(xs)
    finally:
        set_norm_mode(net, "own")


def stylize_fast(
    content: ImageSource,
    net: nn.Module,
    style: FastStyle,
    *,
    strength: float = 1.0,
    color: Literal["none", "luminance"] = "none",
    precision: Precision = "auto",
    device: str = "auto",
    tile_pixels: int = TILE_PIXELS,
    stats_pixels: int | None = None,
    max_side: int = MAX_FAST_SIDE,
    compiled: bool = False,
) -> FastResult:
    """Stylize ``content`` in one pass of ``net``; images above ``tile_pixels`` go tile by tile.

    Tiles share instance-norm statistics measured on a copy of at most ``stats_pixels`` (default: four
    tiles' worth), which bounds memory; the closer to full size, the closer to a whole-image pass.
    ``compiled`` runs the network through ``torch.compile`` (see :class:`Compiler`; call
    :func:`warm_up` first to move the one-off compilation out of the first request).
    """
    import time

    if not (isinstance(strength, (int, float)) and 0.0 <= strength <= 1.0):
        raise InvalidInput(f"Style strength must be between 0 and 1 (got {strength!r}).")
    if color not in ("none", "luminance"):
        raise InvalidInput(f"Colour must be 'none' or 'luminance' (got {color!r}).")
    started = time.perf_counter()
    loaded = load_image(content, label="content image", max_pixels=max_side * max_side)
    runtime = pick_runtime(device, precision)
    net = runtime.prepare_model(net)
    x = to_tensor(loaded.image)
    inputs = _to_network(x, style)
    height, width = x.shape[-2:]
    if height * width > tile_pixels:
        tile = max(256, int(math.sqrt(tile_pixels)))
        y, tiles = _run_tiled(net, inputs, runtime, compiled, tile, TILE_OVERLAP, stats_pixels or 4 * tile_pixels)
    else:
        y, tiles = _run(net, inputs, runtime, compiled), 1
    out = _from_network(y, style)
    if strength < 1.0:
        out = strength * out + (1.0 - strength) * x
    if color == "luminance":
        out = keep_content_colors(out, x)
    label = runtime.label
    if compiled:  # once compiling has failed, every pass runs eagerly
        label += f", eager (compile failed: {COMPILER.error})" if COMPILER.error else ", compiled"
    return FastResult(to_pil(out), time.perf_counter() - started, label, tiles, loaded.notices)


def warm_up(precision: Precision = "auto", device: str = "auto") -> float:
    """Compile the whole-image and the tile graphs ahead of the first request; returns the seconds spent.

    The graphs serve every TransformerNet (weights are inputs) and every size; a non-square input keeps
    height and width independent symbols, so a later non-square image does not recompile.
    """
    import time

    started = time.perf_counter()
    net = freeze(TransformerNet())
    image = to_pil(torch.rand(1, 3, 72, 100, generator=torch.Generator().manual_seed(0)))
    style = FastStyle("warm-up", "warm-up", "", value_range=255, channel_order="rgb")
    stylize_fast(image, net, style, precision=precision, device=device, compiled=True)
    stylize_fast(image, net, style, precision=precision, device=device, compiled=True, tile_pixels=64 * 64)
    return time.perf_counter() - started


def catalogue_thumbnail(title: str, photo: ImageSource, size: int = 160) -> Image.Image:
    """What a catalogue style does to ``photo``, or a labelled card when its weights are unavailable."""
    from PIL import ImageDraw

    thumb = load_image(photo).image
    thumb.thumbnail((size, size), Image.LANCZOS)
    try:
        model = load_catalogue_style(title)
        return stylize_fast(thumb, model.net, model.style, precision="fp32").image
    except NSTError as exc:
        log.info("no thumbnail for %s: %s", title, exc)
    # Square, text centred: galleries crop thumbnails to squares.
    card = Image.new("RGB", (size, size), (236, 236, 240))
    ImageDraw.Draw(card).multiline_text((size // 2, size // 2), f"{title}\n\nweights not\ndownloaded",
                                        fill=(60, 60, 70), anchor="mm", align="center")
    return card


# --------------------------------------------------------------------------- health check and catalogue

FAST_CHECK_SOURCE = ("Johnson et al. (2016): the network keeps the photo's structure and repaints it; here, on the "
                     "example cat photo: at most 20 % of channel values clipped at 0 or 255, edge-map correlation "
                     "with the photo at least 0.15, mean change at least 0.05; and, for paintings with a clear "
                     "red or blue dominance, the same dominance in the result")
MAX_CLIPPED = 0.20
MIN_EDGE_CORRELATION = 0.15
MIN_CHANGE = 0.05


def _edges(image: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of the blurred luminance: the structure a stylization should keep."""
    luma = (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    luma = F.avg_pool2d(luma, 5, stride=1, padding=2, count_include_pad=False)
    dy, dx = luma[..., 1:, :-1] - luma[..., :-1, :-1], luma[..., :-1, 1:] - luma[..., :-1, :-1]
    return (dx.square() + dy.square()).sqrt().flatten()


def fast_style_check(net: nn.Module, style: FastStyle, photo: ImageSource) -> HealthResult:
    """Stylize ``photo`` as ``style`` says the network expects: the result must be neither clipped nor the photo,
    must keep its structure, and (where the painting's palette is clear) show the painting's palette."""
    x = to_tensor(load_image(photo).image)
    with torch.inference_mode():
        raw = _run(freeze(net), _to_network(x, style), pick_runtime("cpu", "fp32"), compiled=False)
    y = raw.float() / style.value_range
    y = y.flip(1) if style.channel_order == "bgr" else y
    clipped = ((y <= 0.5 / 255) | (y >= 254.5 / 255)).float().mean().item()
    y = y.clamp(0, 1)
    edges_y, edges_x = _edges(y), _edges(x)
    correlation = torch.corrcoef(torch.stack([edges_y, edges_x]))[0, 1].nan_to_num(0.0).item()
    change = (y - x).abs().mean().item()
    red_minus_blue = (y[:, 0] - y[:, 2]).mean().item()
    facts = {"value_range": style.value_range, "channel_order": style.channel_order, "clipped": round(clipped, 4),
             "edge_correlation": round(correlation, 3), "change": round(change, 3),
             "red_minus_blue": round(red_minus_blue, 3)}
    problems = []
    if clipped > MAX_CLIPPED:
        problems.append(f"{clipped:.0%} of values clipped (at most {MAX_CLIPPED:.0%})")
    if correlation < MIN_EDGE_CORRELATION:
        problems.append(f"edge correlation with the photo {correlation:.2f} (at least {MIN_EDGE_CORRELATION})")
    if change < MIN_CHANGE:
        problems.append(f"mean change {change:.3f} (at least {MIN_CHANGE}): the photo came back unstyled")
    if style.palette and (red_minus_blue > 0) != (style.palette == "red"):
        problems.append(f"the result leans {'red' if red_minus_blue > 0 else 'blue'}, the painting {style.palette}")
    summary = (f"{style.channel_order.upper()} 0-{style.value_range}: clipped {clipped:.1%}, edge correlation "
               f"{correlation:.2f}, change {change:.3f}")
    return HealthResult(not problems, summary + ("; " + "; ".join(problems) if problems else ""), facts)


def settle_catalogue_style(key: str) -> hub.Check:
    """The catalogue file's check: the first (value range, colour order) candidate that passes is recorded."""

    def check(raw: object) -> HealthResult:
        style = next(s for s in CATALOGUE.values() if s.key == key)
        net = _catalogue_net(raw, key)
        tried = []
        for value_range, order in CANDIDATES:
            candidate = dataclasses.replace(style, value_range=value_range, channel_order=order)
            result = fast_style_check(net, candidate, CHECK_PHOTO)
            if result.passed:
                log.info("%s: settled on %s", key, result.detail)
                return result
            tried.append(result.detail)
        return HealthResult(False, "no value range and colour order passes: " + " | ".join(tried))

    return check


CATALOGUE: dict[str, FastStyle] = {
    style.title: style
    for style in (
        # LFS sha256 values from the commits that uploaded each file (pointer text on the commit page).
        _register_maze("Rain_Princess", "Rain Princess", "Leonid Afremov",
                       "b5884bdcd171b058a0916b03ab869967ec2e75b25608d3118233321f0a8cdc10",
                       "https://huggingface.co/maze/FastStyleTransfer/commit/20d8e1b8d6c2c62199d7d04b67ce725fac1638a6",
                       # pytorch/examples' rain-princess image averages RGB (133, 117, 91): warm.
                       palette="red"),
        _register_maze("Scream", "The Scream", "Edvard Munch",
                       "6371c3b1a78ebd7be15748e8899652373400690eca16c18bf4074952ff7b101d",
                       "https://huggingface.co/maze/FastStyleTransfer/commit/4f081e6e75bc7cdc4c277e5d891a877f37eb06a3",
                       palette=None),
        _register_maze("Mosaic", "Mosaic", "unknown",
                       "251b2ab4f8fa257fb55ddb41f5502ef482b4b9addc14ea1eae714870502c9907",
                       "https://huggingface.co/maze/FastStyleTransfer/commit/2292765a1bd2cf04d8b005eadc0fc76df23f5df0",
                       palette=None),
        # No sha256 for this file was found on any public page: only the pinned commit guards it.
        _register_maze("Starry_Night", "Starry Night", "Vincent van Gogh", "", "", palette="blue"),
    )
}
