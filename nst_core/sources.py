"""Where a user's own model is: uploaded files, a local file, or a Hub repo. One parser for every loader.

A model is a ``model.safetensors`` with its ``config.json`` (the training scripts write both). Pickled files are
refused, whatever they are called. Text is read as a local path only where the caller allows it (the command
line); on a server, typed text is always a Hub repo id, so no visitor can make the server read its own files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import hub
from .errors import InvalidInput


@dataclass(frozen=True)
class ModelSource:
    """A local ``weights`` file (``config`` beside it unless given) or a Hub ``repo_id``."""

    weights: Path | None = None
    config: Path | None = None
    repo_id: str | None = None

    @property
    def origin(self) -> str:
        """How messages name it: the file's name (never its folder) or ``hf://user/name``."""
        return f"{hub.HUB_PREFIX}{self.repo_id}" if self.repo_id else self.weights.name

    def files(self, revision: str = "main") -> tuple[Path, Path]:
        """(weights, config) on this machine, fetched from the Hub for a repo (the config may not exist)."""
        if self.repo_id:
            return tuple(hub.weight_path(hub.user_hub_file(self.repo_id, name, revision))
                         for name in ("model.safetensors", "config.json"))
        if not self.weights.is_file():
            raise InvalidInput(f"The model {self.weights.name} does not exist.")
        return self.weights, self.config or self.weights.parent / "config.json"


def model_source(text: str | Path | None = None, *, uploads: Sequence[str | Path] = (),
                 local_paths: bool = False) -> ModelSource | None:
    """The model named by ``uploads`` (one .safetensors, at most one .json) or else by ``text`` (``hf://user/name``,
    ``user/name``, or with ``local_paths`` a ``.safetensors`` path); None when both are empty."""
    files = [Path(f) for f in uploads if f]
    if files:
        weights = [f for f in files if f.suffix == ".safetensors"]
        configs = [f for f in files if f.suffix == ".json"]
        if len(weights) + len(configs) < len(files):
            raise InvalidInput("Model files are read from .safetensors (+ .json) only; pickled files are refused.")
        if len(weights) != 1 or len(configs) > 1:
            raise InvalidInput("Model files: upload one model.safetensors and its config.json.")
        return ModelSource(weights[0], configs[0] if configs else None)
    if isinstance(text, Path):
        return ModelSource(text)
    text = str(text or "").strip()
    if not text:
        return None
    if local_paths and text.endswith(".safetensors") and not text.startswith(hub.HUB_PREFIX):
        return ModelSource(Path(text))
    return ModelSource(repo_id=hub.parse_repo_id(text.removeprefix(hub.HUB_PREFIX)))
