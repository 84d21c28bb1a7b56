"""The pretrained feed-forward styles and user models: what each network expects, and loading it safely.

Catalogue ``.pth`` files are loaded by *position* with shape checks (their attribute names are not ours to
rely on); user models from safetensors + JSON only. Nothing is ever unpickled freely. Every loader returns a
:class:`FastModel`: the network together with the facts it must be run with.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ... import hub
from ...errors import InvalidInput, WeightsMismatch, shown
from ...runtime import freeze
from ...sources import ModelSource
from .check import FAST_CHECK_SOURCE, settle_catalogue_style
from .model import FAST_ARCHITECTURE, ChannelOrder, FastModel, FastStyle, Palette, ValueRange
from .network import TransformerNet

# The order a catalogue file's (value range, colour order) candidates are tried in by its health check.
# RGB first: the publisher's Space feeds the network a PIL image (RGB), and its requirements
# (torch, torchvision, Pillow; no OpenCV) leave no BGR conversion in its processing.
CANDIDATES: tuple[tuple[ValueRange, ChannelOrder], ...] = ((255, "rgb"), (1, "rgb"), (255, "bgr"), (1, "bgr"))
_MAZE_REPO = "maze/FastStyleTransfer"
# The head of main, "Upload Mosaic_512.pth with git-lfs" (8 commits, all four files present):
# https://huggingface.co/maze/FastStyleTransfer/commit/2292765a1bd2cf04d8b005eadc0fc76df23f5df0
_MAZE_REVISION = "2292765a1bd2cf04d8b005eadc0fc76df23f5df0"
_MAZE_LICENSE = "MIT (https://huggingface.co/maze/FastStyleTransfer/commit/2d50a8b3ffaf808afdc1c5e01369e8f136fdb67d)"


def _maze_style(name: str, title: str, artist: str, sha256: str, sha_page: str,
                palette: Palette | None) -> tuple[FastStyle, hub.WeightEntry]:
    key = f"fast-{name.lower()}"
    style = FastStyle(key, title, artist, value_range=255, channel_order="rgb", license="MIT",
                   note="value range and colour order settled by the health check on first load", palette=palette)
    return style, hub.WeightEntry(
        key=key, source=hub.HubFile(_MAZE_REPO, f"{name}_512.pth", _MAZE_REVISION, sha256=sha256),
        convert=hub.as_is, description=f"Feed-forward network for {title}", license="MIT", size_mb=6.74,
        check=settle_catalogue_style(style, CANDIDATES, catalogue_net), check_source=FAST_CHECK_SOURCE,
        pin_source=sha_page or "https://huggingface.co/maze/FastStyleTransfer/tree/main (no sha256 published)",
    )


_IGNORED_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
MAX_CONFIG_BYTES = 64 * 1024  # a config written by save_fast_model is about 300 bytes


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


def catalogue_net(raw: object, origin: str) -> TransformerNet:
    if not isinstance(raw, dict) or not all(isinstance(t, torch.Tensor) for t in raw.values()):
        raise WeightsMismatch(f"{origin}: expected a dict of tensors")
    return freeze(load_by_module_names(TransformerNet(), raw, origin))


def load_catalogue_style(title: str) -> FastModel:
    """A catalogue style, its file checksum-verified and its network health-checked (cached per title)."""
    style = CATALOGUE.get(title)
    if style is None:
        raise InvalidInput(f"Unknown style {shown(title)}; choose one of {', '.join(CATALOGUE)}.")
    return _load_catalogue_style(style)


@functools.lru_cache(maxsize=8)
def _load_catalogue_style(style: FastStyle) -> FastModel:
    raw, result = hub.load_checked(WEIGHTS[style.key])
    settled = style if result is None else dataclasses.replace(
        style, value_range=result.facts["value_range"], channel_order=result.facts["channel_order"],
        note=result.detail)
    return FastModel(catalogue_net(raw, WEIGHTS[style.key].source.describe()), settled)


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
        config = _read_config(Path(config))
    origin = origin or weights.name
    style = _style_from_config(config, key=f"file:{origin}")
    net = TransformerNet()
    try:
        hub.load_strict(net, hub.read_file(weights, origin), origin)
    except WeightsMismatch as exc:
        raise InvalidInput(str(exc)) from exc
    return FastModel(freeze(net), style)


def _read_config(path: Path) -> object:
    """A model's config.json, parsed; :class:`InvalidInput` for one that is missing, not JSON, nested past
    Python's recursion limit or over :data:`MAX_CONFIG_BYTES` (30 MB of empty lists took 7 s and 700 MB to
    parse)."""
    if not path.is_file():
        raise InvalidInput("The model's config.json is missing; upload it with the weights.")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InvalidInput(f"The model's config.json is {path.stat().st_size / 1e6:.1f} MB; a config is a few "
                           f"hundred bytes (at most {MAX_CONFIG_BYTES // 1024} kB are read).")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The model's config is not valid JSON ({exc}).") from exc
    except RecursionError:
        raise InvalidInput("The model's config is not valid JSON (nested too deeply).") from None


def _style_from_config(config: object, key: str) -> FastStyle:
    if not isinstance(config, dict):
        raise InvalidInput("The model's config must be a JSON object.")
    if config.get("architecture", FAST_ARCHITECTURE) != FAST_ARCHITECTURE:
        raise InvalidInput(f"Unsupported architecture {shown(config.get('architecture'))}; "
                           f"expected {FAST_ARCHITECTURE}.")
    value_range = config.get("value_range", 255)
    order = config.get("channel_order", "rgb")
    if value_range not in (1, 255) or order not in ("rgb", "bgr"):
        raise InvalidInput("The config's value_range must be 1 or 255 and channel_order 'rgb' or 'bgr'.")
    return FastStyle(key, str(config.get("title", "custom style")), str(config.get("artist", "")),
                  value_range=value_range, channel_order=order, license=str(config.get("license", "")))


def load_user_model(source: ModelSource, revision: str = "main") -> FastModel:
    """A model ``train_fast`` wrote (``model.safetensors`` + ``config.json``): uploaded, local or in a Hub repo."""
    weights, config = source.files(revision)
    return load_fast_model(weights, config, origin=source.origin)


def load_hub_model(repo_id: str, revision: str = "main") -> FastModel:
    """A model published by ``train_fast`` in a Hub repo."""
    return load_user_model(ModelSource(repo_id=hub.parse_repo_id(repo_id)), revision)


_STYLES = (
    # LFS sha256 values from the commits that uploaded each file (pointer text on the commit page).
    _maze_style("Rain_Princess", "Rain Princess", "Leonid Afremov",
                "b5884bdcd171b058a0916b03ab869967ec2e75b25608d3118233321f0a8cdc10",
                "https://huggingface.co/maze/FastStyleTransfer/commit/20d8e1b8d6c2c62199d7d04b67ce725fac1638a6",
                # pytorch/examples' rain-princess image averages RGB (133, 117, 91): warm.
                palette="red"),
    _maze_style("Scream", "The Scream", "Edvard Munch",
                "6371c3b1a78ebd7be15748e8899652373400690eca16c18bf4074952ff7b101d",
                "https://huggingface.co/maze/FastStyleTransfer/commit/4f081e6e75bc7cdc4c277e5d891a877f37eb06a3",
                palette=None),
    _maze_style("Mosaic", "Mosaic", "unknown",
                "251b2ab4f8fa257fb55ddb41f5502ef482b4b9addc14ea1eae714870502c9907",
                "https://huggingface.co/maze/FastStyleTransfer/commit/2292765a1bd2cf04d8b005eadc0fc76df23f5df0",
                palette=None),
    # No sha256 for this file was found on any public page: only the pinned commit guards it.
    _maze_style("Starry_Night", "Starry Night", "Vincent van Gogh", "", "", palette="blue"),
)
CATALOGUE: dict[str, FastStyle] = {style.title: style for style, _ in _STYLES}
# Every file this module's networks load, by key.
WEIGHTS: dict[str, hub.WeightEntry] = {item.key: item for _, item in _STYLES}
