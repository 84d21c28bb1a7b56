"""Reading a checkpoint safely (no free unpickling), loading it strictly, and its health check."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..errors import WeightsMismatch
from ..health import HealthResult, file_identity, require
from .entries import Progress, StateDict, WeightEntry
from .environment import HEALTH
from .fetch import weight_path
from .onnx import read_layers

log = logging.getLogger(__name__)
# A safetensors file opens with its header's length, then the header: a JSON list of its tensors. A network's
# lists them in a few kB (VGG19's 38 in 4 kB); a 48 MB file listing 700,000 one-byte tensors held a request 13 s
# and 660 MB before its names were compared with the network's.
MAX_HEADER_BYTES = 2**20


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
    """Read a weight file without running any code from it (safetensors, ONNX initializers as named layers, or
    torch's weights-only unpickler).

    ``origin`` names the file in messages (a Hub address, an upload's name); the local path never appears.
    """
    origin = origin or path.name
    if path.suffix == ".onnx":
        return read_layers(path, origin)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            _refuse_long_header(path, origin)
            return load_file(str(path))
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except WeightsMismatch:
        raise
    except Exception as exc:  # corrupt, truncated or hostile files all end here
        first_line = (str(exc).strip().splitlines() or [""])[0][:200].replace(str(path), origin)
        raise WeightsMismatch(f"{origin}: not a readable weight file ({type(exc).__name__}: {first_line})") from exc


def _refuse_long_header(path: Path, origin: str) -> None:
    """:class:`WeightsMismatch` for a safetensors file whose header is over :data:`MAX_HEADER_BYTES`, from its
    first 8 bytes (the header's length, little-endian), before any of it is parsed."""
    with path.open("rb") as file:
        length = int.from_bytes(file.read(8), "little")
    if length > path.stat().st_size - 8:
        raise WeightsMismatch(f"{origin}: not a readable weight file (truncated, or not safetensors)")
    if length > MAX_HEADER_BYTES:
        raise WeightsMismatch(f"{origin}: not a readable weight file (its list of tensors takes {length / 2**20:.0f} "
                              f"MB; a network's takes a few kB, at most {MAX_HEADER_BYTES // 2**20} MB are read)")


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


