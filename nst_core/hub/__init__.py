"""One registry of every pretrained weight file: where it lives, how to fetch, check, convert and judge it.

One module a job: :mod:`.entries` (what a file is), :mod:`.environment` (caches, offline mode, reachability),
:mod:`.fetch` (on disk or downloaded), :mod:`.checksum`, :mod:`.loading` (safe reading, strict loading, the
health check) and :mod:`.convert` (checkpoint -> state dict).

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

from . import environment
from .checksum import sha256_of, verify_checksum
from .convert import drop_prefix, keep_prefix
from .entries import (
    HUB_PREFIX,
    Check,
    Converter,
    HubFile,
    PackageFile,
    Progress,
    Source,
    StateDict,
    UrlFile,
    WeightEntry,
    as_is,
    parse_repo_id,
    user_hub_file,
)
from .environment import (
    CONNECT_TIMEOUT_S,
    FIX_HINT,
    HEALTH,
    URL_FIX_HINT,
    _reachable,
    host_reachable,
    hub_cache_dir,
    hub_endpoint,
    offline_mode,
    url_cache_dir,
)
from .fetch import Availability, availability, cached_path, weight_path
from .loading import load_checked, load_state_dict, load_strict, read_file

__all__ = ["CONNECT_TIMEOUT_S", "FIX_HINT", "HEALTH", "HUB_PREFIX", "URL_FIX_HINT", "Availability", "Check",
           "Converter", "HubFile", "PackageFile", "Progress", "Source", "StateDict", "UrlFile", "WeightEntry",
           "_reachable", "as_is", "availability", "cached_path", "drop_prefix", "environment", "host_reachable",
           "hub_cache_dir", "hub_endpoint", "keep_prefix", "load_checked", "load_state_dict", "load_strict",
           "offline_mode", "parse_repo_id", "read_file", "sha256_of", "url_cache_dir", "user_hub_file",
           "verify_checksum", "weight_path"]
