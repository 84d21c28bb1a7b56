"""Health checks of pretrained networks: their results, and the record that keeps them.

Every pretrained network is checked once per weight file before its first use, against a property drawn
from public facts (an ImageNet class for a photo, a reference smoke test's statistics, a stylization
that keeps the photo's structure). The check itself lives beside its network; this module holds what
they share: the result type, the record of results (in memory, and on disk beside the Hub cache, so a
setting that a check settles, such as a fast style's value range, is recorded and reused), and the rule
that a network that failed is refused.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import WeightsMismatch

log = logging.getLogger(__name__)
# The photo image checks run on: examples/images/chelsea.jpg (scikit-image's 'chelsea', a tabby cat,
# CC0) at 256 px, shipped inside the package so that checks work wherever nst_core is installed.
CHECK_PHOTO = Path(__file__).resolve().parent / "data" / "chelsea.jpg"


@dataclass(frozen=True)
class HealthResult:
    """What a check found: passed or not, in one readable line, plus any facts it settled."""

    passed: bool
    detail: str
    facts: dict = field(default_factory=dict)


def file_identity(path: Path) -> str:
    """Names one version of a file without reading it: a changed file is checked again."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


class HealthRecord:
    """Results per weight key and file version, kept for the process and in ``health.json``.

    The file sits beside the weights (``HF_HOME``), so what a check settled survives restarts; it is
    only a cache of results: deleting it makes the next load check again.
    """

    def __init__(self, store: Callable[[], Path] | None = None) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[str, str], HealthResult] = {}
        self._store = store
        self._loaded_from: Path | None = None

    def _file(self) -> Path | None:
        return self._store() if self._store else None

    def _load(self) -> None:
        path = self._file()
        if path is None or path == self._loaded_from:
            return
        self._loaded_from = path
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        for entry in saved if isinstance(saved, list) else []:
            try:
                key = (entry["key"], entry["file"])
                self._results.setdefault(key, HealthResult(bool(entry["passed"]), str(entry["detail"]),
                                                            dict(entry.get("facts", {}))))
            except (KeyError, TypeError):
                continue

    def _save(self) -> None:
        path = self._file()
        if path is None:
            return
        rows = [{"key": key, "file": version, **asdict(result)} for (key, version), result in self._results.items()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rows, indent=1))
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache still works; results then last for the process
            log.warning("cannot record health checks: %s", exc)

    def get(self, key: str, version: str) -> HealthResult | None:
        with self._lock:
            self._load()
            return self._results.get((key, version))

    def latest(self, key: str) -> HealthResult | None:
        """The most recent result for ``key``, whatever the file version (for status displays)."""
        with self._lock:
            self._load()
            found = [result for (k, _), result in self._results.items() if k == key]
            return found[-1] if found else None

    def put(self, key: str, version: str, result: HealthResult) -> None:
        with self._lock:
            self._load()
            self._results.pop((key, version), None)
            self._results[(key, version)] = result
            self._save()

    def forget(self, key: str) -> None:
        """Drop every result for ``key``, so that its next load checks again."""
        with self._lock:
            self._load()
            for stored in [k for k in self._results if k[0] == key]:
                del self._results[stored]
            self._save()

    def clear(self) -> None:
        with self._lock:
            self._results.clear()
            self._loaded_from = None


def require(record: HealthRecord, key: str, version: str, check: Callable[[], HealthResult],
            origin: str) -> HealthResult:
    """Run ``check`` once per file version; a failed network raises :class:`WeightsMismatch`, never runs."""
    result = record.get(key, version)
    if result is None:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check
            result = HealthResult(False, f"the check could not run ({type(exc).__name__}: {exc})")
        record.put(key, version, result)
        (log.info if result.passed else log.error)("health check of %s: %s - %s", key,
                                                   "passed" if result.passed else "FAILED", result.detail)
    if not result.passed:
        raise WeightsMismatch(f"{origin} failed its health check: {result.detail}. It is not used.")
    return result
