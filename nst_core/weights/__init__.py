"""Every pretrained network the studio serves: what it is, where its weights stand, and fetching them.

A network's state is one of:

* ``verified``: on disk, checksum and health check passed;
* ``failed``: its file or its health check failed; it is refused, with the reason;
* ``ready``: on disk, checked on first use;
* ``downloading``: being fetched now (with a percentage);
* ``download``: can be fetched (on first use, or by :meth:`Fetcher.start`);
* ``unavailable``: cannot be had now (offline, ``HF_HUB_OFFLINE=1``), with the reason.

:class:`Fetcher` downloads and verifies networks in a background thread (the app starts one at start-up);
``python -m nst_core.weights`` lists, downloads and verifies them from a terminal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .. import hub
from ..audio.backends import AUDIO_BACKENDS, cnn14, load_backend, vggish
from ..errors import InvalidInput, NSTError, shown
from ..health import file_identity
from ..image import backbones, fast, onepass
from ..image.backbones import BACKBONES, load_backbone
from ..image.fast import catalogue as fast_catalogue

log = logging.getLogger(__name__)


# The one place every weight file of the studio is listed: each table sits beside the networks that load it.
WEIGHT_TABLES: tuple[dict[str, hub.WeightEntry], ...] = (backbones.WEIGHTS, onepass.WEIGHTS, fast_catalogue.WEIGHTS,
                                                         vggish.WEIGHTS, cnn14.WEIGHTS)


@dataclass(frozen=True)
class Network:
    """A pretrained network as its users see it: a name, the weights it needs, and how it is loaded."""

    key: str                      # the weights' key in its module's WEIGHTS table
    label: str
    modality: str                 # "image", "fast styles" or "audio"
    load: Callable[[], object]    # loads it exactly as a request would: checksum, health check, strict load


def _networks() -> tuple[Network, ...]:
    image = [Network(spec.weights, spec.label, "image", lambda name=spec.name: load_backbone(name))
             for spec in BACKBONES.values()]
    one_pass = [Network(key, item.description.split(":")[0].split(" (")[0], "fast styles",
                        lambda key=key: onepass.load_network(key)) for key, item in onepass.WEIGHTS.items()]
    styles = [Network(style.key, style.title, "fast styles", lambda title=title: fast.load_catalogue_style(title))
              for title, style in fast.CATALOGUE.items()]
    audio = [Network(net.key, net.label, "audio", lambda name=spec.name, o=net.options: load_backend(name, o))
             for spec in AUDIO_BACKENDS.values() for net in spec.weights]
    return (*image, *one_pass, *styles, *audio)


NETWORKS: tuple[Network, ...] = _networks()
BY_KEY: dict[str, Network] = {network.key: network for network in NETWORKS}


def network(key: str) -> Network:
    try:
        return BY_KEY[key]
    except KeyError:
        raise InvalidInput(f"Unknown network {shown(key)}; known: {', '.join(BY_KEY)}.") from None


def entry(key: str) -> hub.WeightEntry:
    """The weight file of network ``key``, read from its module's table at call time."""
    for table in WEIGHT_TABLES:
        if key in table:
            return table[key]
    raise InvalidInput(f"Unknown weights {shown(key)}; known: {', '.join(k for t in WEIGHT_TABLES for k in t)}.")


@dataclass(frozen=True)
class NetworkState:
    state: str                   # see the module docstring
    detail: str
    percent: float | None = None


@dataclass
class Fetcher:
    """Downloads and verifies networks one after another in a background thread; its state is read by status()."""

    progress: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    queued: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, keys: Iterable[str] | None = None) -> bool:
        """Fetch and verify ``keys`` (default: every network) in the background; False if one is running."""
        with self._lock:
            if self.running:
                return False
            self.queued = list(BY_KEY if keys is None else keys)  # an empty list fetches nothing
            self._thread = threading.Thread(target=self._run, name="weights-fetcher", daemon=True)
            self._thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while self.queued:
            key = self.queued[0]
            self.fetch(key)
            with self._lock:
                self.queued.pop(0)

    def fetch(self, key: str) -> None:
        """Download ``key`` if needed (reporting progress), then load it as a request would (health check)."""
        self.errors.pop(key, None)
        try:
            if hub.cached_path(entry(key)) is None:
                hub.weight_path(entry(key), progress=lambda done, total: self._report(key, done, total))
            network(key).load()
        except NSTError as exc:
            self.errors[key] = str(exc)
            log.warning("%s: %s", key, exc)
        except Exception as exc:  # noqa: BLE001 - one broken network must not stop the others
            self.errors[key] = f"{type(exc).__name__}: {exc}"
            log.exception("%s: unexpected failure while fetching", key)
        finally:
            with self._lock:
                self.progress.pop(key, None)

    def _report(self, key: str, done: int, total: int) -> None:
        with self._lock:
            self.progress[key] = (done, total)


FETCHER = Fetcher()


def status(key: str, fetcher: Fetcher = FETCHER) -> NetworkState:
    """Where the network ``key`` stands now; decided within a few seconds, never downloading."""
    with fetcher._lock:  # the worker pops the entry when its download ends: read it in one step
        progress = fetcher.progress.get(key)
    if progress is not None:
        done, total = progress
        percent = 100.0 * done / total if total else None
        return NetworkState("downloading", f"{done / 1e6:.0f} of {total / 1e6:.0f} MB" if total else
                            f"{done / 1e6:.0f} MB", percent)
    local = hub.cached_path(entry(key))
    result = hub.HEALTH.get(key, file_identity(local)) if local is not None else None
    if result is not None:
        return NetworkState("verified" if result.passed else "failed", result.detail)
    if key in fetcher.errors:
        reason = fetcher.errors[key]
        return NetworkState("failed" if local is not None else "unavailable", reason)
    found = hub.availability(entry(key))
    if found.state == "ready":
        return NetworkState("ready", "on disk; checked on first use")
    if found.state == "download" and key in fetcher.queued:
        return NetworkState("downloading", "queued")
    return NetworkState(found.state, found.detail)


def verify(key: str) -> NetworkState:
    """Run the checksum and health check of a cached network now, whatever was recorded before."""
    if hub.cached_path(entry(key)) is None:
        return NetworkState("not cached", entry(key).source.describe())
    hub.HEALTH.forget(key)
    try:
        hub.load_checked(entry(key))  # not network(key).load(): a network loaded earlier in-process is cached
        network(key).load()
    except NSTError as exc:
        return NetworkState("failed", str(exc))
    return status(key)
