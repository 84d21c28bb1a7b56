"""Files fetched from Hub repos that visitors name: kept in the Hub cache, but no more than
:data:`VISITOR_CACHE_MB` of them, the least recently used removed first.

A public app fetches a custom model from whatever repo a visitor types (each file up to ``USER_FILE_MB``); kept
like the registry's pinned weights, every repo any visitor ever named would stay on the server's disk. A repo's
cache folder is marked when a visitor's file is fetched into it or read from it; the registry's folders carry no
mark and are never removed here.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .entries import HubFile

log = logging.getLogger(__name__)

MARK = ".nst-visitor"     # in a repo's cache folder: a visitor's file is there; its time is the last use
VISITOR_CACHE_MB = 512.0  # all visitors' repos together (a Fast styles network is about 7 MB)


def repo_folder(cache: Path, source: HubFile) -> Path:
    """Where ``huggingface_hub`` keeps ``source``'s repo in ``cache``."""
    return cache / f"{source.repo_type}s--{source.repo_id.replace('/', '--')}"


def remember(cache: Path, source: HubFile) -> None:
    """Mark ``source``'s repo as a visitor's, used now."""
    folder = repo_folder(cache, source)
    if folder.is_dir():
        (folder / MARK).touch()


def make_room(cache: Path, incoming_bytes: float, limit_mb: float | None = None) -> None:
    """Remove visitors' repos, the least recently used first, until ``incoming_bytes`` more fit the limit."""
    limit = (VISITOR_CACHE_MB if limit_mb is None else limit_mb) * 1e6
    marked = sorted(cache.glob(f"*/{MARK}"), key=lambda mark: mark.stat().st_mtime)
    sizes = {mark.parent: _stored_bytes(mark.parent) for mark in marked}
    held = sum(sizes.values())
    for folder in sizes:
        if held + incoming_bytes <= limit:
            break
        shutil.rmtree(folder, ignore_errors=True)
        held -= sizes[folder]
        log.info("removed %s from the Hub cache: visitors' repos are kept to %.0f MB", folder.name, limit / 1e6)


def _stored_bytes(folder: Path) -> int:
    """The bytes a repo's cache folder holds (its blobs; the snapshots only link to them)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
