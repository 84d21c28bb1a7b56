"""What a weight file is: its source (a package file, a Hub file at a commit, a URL) and its entry."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import InvalidInput
from ..health import HealthResult

StateDict = dict[str, torch.Tensor]
Converter = Callable[[object], StateDict]
Check = Callable[[object], HealthResult]
Progress = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)

HUB_PREFIX = "hf://"  # marks a text as a Hub repo id: loaders never read such a text as a path

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
    most_mb: float | None = None  # the largest file it may download (a repo a visitor names may hold anything)


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


# A Fast styles network is about 7 MB; a visitor's repo is fetched only up to this (the upload limit's size).
USER_FILE_MB = 64.0


def user_hub_file(repo_id: str, filename: str, revision: str = "main", size_mb: float = 0.0) -> WeightEntry:
    """An entry for a file in a Hub repo a user names: fetched like any other, up to :data:`USER_FILE_MB`, listed
    nowhere."""
    repo_id = parse_repo_id(repo_id)
    return WeightEntry(f"user:{repo_id}/{filename}@{revision}", HubFile(repo_id, filename, revision), as_is,
                       f"{filename} from {repo_id}", "see the repository", size_mb, most_mb=USER_FILE_MB)


