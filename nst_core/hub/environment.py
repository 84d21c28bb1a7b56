"""Where the caches are, whether this machine is offline, whether a host answers: read at call time."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

from ..health import HealthRecord

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
URL_FIX_HINT = (
    "Connect to the internet, or fetch it on a connected machine with `python -m nst_core.weights download` and "
    "copy that machine's HF_HOME here (the file is kept beside the Hugging Face cache)."
)
FIX_HINT = (
    "Connect to the internet, or fill a Hugging Face cache on a connected machine with "
    "`python -m nst_core.weights download` (or `hf download REPO FILE --revision COMMIT`) and point "
    "HF_HOME at it."
)



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


HEALTH = HealthRecord(lambda: hub_cache_dir().parent / "nst-health.json")


