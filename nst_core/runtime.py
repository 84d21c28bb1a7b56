"""Where and how the networks run: device, autocast precision, memory layout, seeding."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import sys
import threading
import typing
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from .errors import InvalidInput, shown

Precision = Literal["auto", "fp32", "bf16", "fp16"]
T = typing.TypeVar("T")
PRECISIONS = typing.get_args(Precision)
_CONVOLUTIONS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d)


@dataclass(frozen=True)
class Runtime:
    """A device plus the numeric settings the frozen networks run with.

    The tensor being optimized always stays fp32; only the network's forward
    and backward run in ``autocast_dtype`` (when set).
    """

    device: torch.device
    autocast_dtype: torch.dtype | None
    channels_last: bool

    @property
    def label(self) -> str:
        dtype = str(self.autocast_dtype).removeprefix("torch.") if self.autocast_dtype else "fp32"
        layout = "channels_last" if self.channels_last else "contiguous"
        return f"{self.device.type}/{dtype}/{layout}"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def prepare_model(self, model: torch.nn.Module, cache: PreparedModels | None = None) -> torch.nn.Module:
        """A frozen copy of ``model`` laid out for this runtime (from ``cache`` when it holds a current one).

        Convolution weights are stored in the autocast dtype: autocast would otherwise cast them
        again on every forward. Normalization layers and buffers stay fp32.
        """
        if cache is not None:
            return cache.get(model, self)
        prepared = freeze(copy.deepcopy(model).to(self.device))
        if self.channels_last:
            prepared = prepared.to(memory_format=torch.channels_last)
        if self.autocast_dtype is not None:
            for module in prepared.modules():
                if isinstance(module, _CONVOLUTIONS):
                    module.to(self.autocast_dtype)
        return prepared

    def prepare_input(self, tensor: torch.Tensor) -> torch.Tensor:
        """On the device, densely laid out in the runtime's memory format: a view (a tile of a larger picture)
        keeps its parent's strides otherwise, and compiled graphs are specialized on strides (each tile size of
        each picture size compiled anew)."""
        tensor = tensor.to(self.device)
        if self.channels_last and tensor.dim() == 4:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor.contiguous()


class PreparedModels:
    """Prepared copies of networks, one per model, runtime and weights, for whoever serves many runs.

    The app keeps one for its lifetime and passes it to every run; a run given none prepares its own copy
    (0.1 s for VGG19, 1 s for CNN14). Entries are keyed weakly on the model, so a copy lives no longer than
    the network it was made from; a model whose weights changed in place since (a network in training) gets
    a fresh copy.
    """

    def __init__(self) -> None:
        self._copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, model: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
        versions = _weight_versions(model)
        with self._lock:
            cached = self._copies.setdefault(model, {}).get(runtime.label)
        if cached is None or cached[0] != versions:
            cached = (versions, runtime.prepare_model(model))
            with self._lock:
                self._copies[model][runtime.label] = cached
        return cached[1]


def _weight_versions(model: torch.nn.Module) -> tuple[int, ...] | None:
    """Autograd's in-place write counters of the weights: they change whenever an optimizer steps."""
    try:
        return tuple(tensor._version for tensor in model.state_dict(keep_vars=True).values())
    except RuntimeError:  # inference-mode tensors keep no counter; they cannot be updated in place anyway
        return None


def cpu_supports_bf16() -> bool:
    """True when oneDNN has native bf16 kernels (AVX-512 bf16 / AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def lower_thread_priority(niceness: int) -> bool:
    """Lower the calling thread's CPU priority by ``niceness`` (0-19): under contention it gets a smaller share
    of the cores, alone it runs at full speed. On Linux the niceness is the thread's own, and the threads and
    processes it starts (torch's workers, the compiler's) inherit it. Returns False where the system has no
    per-thread priority (the thread then runs as it was)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + niceness))
    except OSError:
        return False
    return True


def in_passing_thread(work: typing.Callable[[], T]) -> T:
    """``work()`` computed on a thread that ends with it; its result returned, its error raised, here.

    For work done once on a thread that lives on (the page built on the main thread). A thread that has run a
    parallel torch operation keeps OpenMP's pool of worker threads as long as it lives, and where the pools
    together hold more threads than there are cores, libgomp cuts every team's spin-wait short: each parallel
    region of a job then waits for its workers to be woken. Measured on two cores (``bench/threads.py``), on a
    job's thread once the main thread had computed: a 16x16 convolution 2.2x slower, a small video's frames 1.5x.
    """
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # noqa: BLE001 - raised again on the calling thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="nst-passing", daemon=True)
    thread.start()
    thread.join()
    done, value = outcome[0]
    if not done:
        raise value
    return value


def separate_compiled_kernels() -> str:
    """Give each CPU kernel level its own Inductor cache folder (unless ``TORCHINDUCTOR_CACHE_DIR`` names another).

    Inductor's on-disk cache does not tell AVX-512 code from AVX2 code: on one machine switched to AVX2 kernels
    (``ATEN_CPU_CAPABILITY=avx2``), the feed-forward network compiled from the AVX-512 entries came out wrong
    (5.7 dB from eager), and a server image whose cache moves to another CPU kind could meet the same. Torch
    itself writes its default folder into ``TORCHINDUCTOR_CACHE_DIR`` when ``torch._dynamo`` is imported, so
    that value counts as unset. Returns the folder in use.
    """
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    if os.environ.get("TORCHINDUCTOR_CACHE_DIR", default_cache_dir()) == default_cache_dir():
        level = torch.backends.cpu.get_cpu_capability().lower()
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(default_cache_dir(), f"cpu-{level}")
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


_LIBRARY = re.compile(r"/[^\s:'\"]+\.so\b")


def remove_broken_kernel(error: BaseException, removed: set[str]) -> bool:
    """Delete the compiled library that ``error`` (or its causes) names, if it lies in Inductor's cache folder and
    is not in ``removed`` (the ones already deleted and built again: failing anew, they are not the cause); True
    when one was deleted, and its path is added to ``removed``.

    A process stopped while Inductor wrote a kernel leaves it truncated (seen: a 0-byte ``.so``, left by an
    interrupted start). Every later compile that needs it fails to load it ("file too short"), and the server
    would run eagerly from then on; without the file, the next compile builds it again.
    """
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    folder = os.path.realpath(cache_dir())
    causes = []
    while error is not None and error not in causes:
        causes.append(error)
        error = error.__cause__ or error.__context__
    for match in (m for cause in causes for m in _LIBRARY.finditer(str(cause))):
        path = os.path.realpath(match.group())
        if path.startswith(folder + os.sep) and path not in removed and os.path.isfile(path):
            os.remove(path)
            removed.add(path)
            return True
    return False


def pick_runtime(device: str = "auto", precision: Precision = "auto") -> Runtime:
    """Choose the fastest sound settings for ``device`` unless ``precision`` forces one."""
    if precision not in PRECISIONS:
        raise InvalidInput(f"precision must be one of {', '.join(PRECISIONS)} (got {shown(precision)}).")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInput(f"device must be 'auto', 'cpu' or 'cuda[:N]' (got {shown(device)}).") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("device 'cuda' was asked for, but this machine has no usable CUDA GPU.")
    if precision == "fp32":
        # The layout the automatic choice takes on a CPU without bf16: one fp32 runtime, not two. channels_last
        # is the faster fp32 layout as well (CPU units, channels_last over contiguous: VGG19 0.90-0.96,
        # feed-forward 0.78-0.88, audio 0.98), and the fp32 cost models are fitted with it.
        return Runtime(dev, None, channels_last=True)
    if dev.type == "cuda":
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        if precision == "auto" and not torch.cuda.is_bf16_supported():
            dtype = torch.float16
        return Runtime(dev, dtype, channels_last=True)
    if precision == "fp16":
        raise InvalidInput("precision 'fp16' (autocast) is only offered on CUDA; choose 'bf16' or 'fp32' on the CPU.")
    if precision == "bf16" or cpu_supports_bf16():
        return Runtime(dev, torch.bfloat16, channels_last=True)
    return Runtime(dev, None, channels_last=True)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (a network's default initialization) on torch's generator seeded with ``seed``, then put
    the caller's generator state back: reproducible weights that leave the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Evaluation mode with no parameter gradients, for fixed feature networks."""
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module
