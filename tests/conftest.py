"""Shared fixtures: a private Hugging Face cache, and checkpoints shaped like the published ones."""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "images"

# Keep every test away from the user's real cache and from the network.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _client_files_in_a_folder_of_the_suites_own() -> Path:
    """``gradio_client`` keeps every file a call returns under ``<temp>/gradio`` (a folder it reads from
    ``GRADIO_TEMP_DIR`` once, at import) and leaves an empty folder for each in the temp directory itself; a run
    of the suite left 180 MB there and thousands of folders. Both go to one folder, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="nst-tests-client-"))
    atexit.register(shutil.rmtree, folder, True)
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        import gradio_client.client as client_module
    finally:  # the app under test picks its own cache folder, as it does when it is served
        if before is None:
            os.environ.pop("GRADIO_TEMP_DIR")
        else:
            os.environ["GRADIO_TEMP_DIR"] = before
    client_module.tempfile = types.SimpleNamespace(**{**vars(tempfile), "gettempdir": lambda: str(folder)})
    return folder


CLIENT_FILES = _client_files_in_a_folder_of_the_suites_own()


def data_url(path: Path, size: int = 64) -> str:
    """A picture as an MCP client passes a file: a PNG ``data:`` URL, ``size`` px at most."""
    from PIL import Image

    picture = Image.open(path).convert("RGB")
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hub cache in a temp dir, offline, as the app sees it on a machine without network."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (home / "hub").mkdir(parents=True)
    from nst_core import hub
    from nst_core.image import backbones
    from nst_core.image.fast import catalogue

    def forget_loaded() -> None:
        backbones.load_backbone.cache_clear()
        catalogue._load_catalogue_style.cache_clear()
        hub.HEALTH.clear()

    forget_loaded()
    yield home / "hub"
    forget_loaded()


@contextlib.contextmanager
def live_app(tmp_path_factory, **attributes):
    """The app built offline in a private Hub cache and listening on 127.0.0.1, with ``attributes`` of the
    app's shared state (``ui.state``) replaced while it runs; yields (the app module, the Blocks)."""
    import app
    from ui import state

    with pytest.MonkeyPatch.context() as env:
        home = tmp_path_factory.mktemp("hf")
        env.setenv("HF_HOME", str(home))
        env.setenv("HF_HUB_CACHE", str(home / "hub"))
        env.setenv("HF_HUB_OFFLINE", "1")
        for name, value in attributes.items():
            env.setattr(state, name, value)
        served_before = list(state.BLOCKS)  # an app launched while another serves hands it back at the end
        demo = app.build_app()
        demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_options())
        try:
            yield app, demo
        finally:
            demo.close()
            state.BLOCKS[:] = served_before


def put_in_hub_cache(cache: Path, repo_id: str, filename: str, payload: bytes | Path, revision: str = "main",
                     repo_type: str = "model") -> Path:
    """Lay a file out exactly as ``hf_hub_download`` leaves it: blobs, snapshots/<commit>, refs/<branch>."""
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    # A pinned revision is the snapshot's own name; a branch points at one snapshot per repo.
    pinned = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    commit = revision if pinned else hashlib.sha1(repo_id.encode()).hexdigest()
    # The Hub names blobs by etag; any unique name serves for a cache that is only read.
    blob = repo / "blobs" / hashlib.sha256(f"{repo_id}/{filename}/blob".encode()).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, Path):
        shutil.move(payload, blob)  # large checkpoints are moved, not copied
    else:
        blob.write_bytes(payload)
    snapshot = repo / "snapshots" / commit / filename
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    if not pinned:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
    return snapshot


@pytest.fixture
def publish(hub_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put test-made weights where the registry entry ``key`` looks (its pinned revision, its URL cache).

    The file's real sha256 cannot match a test file, so the entry's pinned checksum is replaced by the test
    file's own (the checksum machinery has tests of its own); ``check=False`` also drops the health check,
    for tests of the loading mechanics alone (checks have their own tests, which must see them fail).
    """
    import dataclasses

    from nst_core import hub, weights

    def put(key: str, payload: object, *, check: bool = True) -> Path:
        item = weights.entry(key)
        path = tmp_path / f"{key}-{len(list(tmp_path.iterdir()))}"
        if isinstance(payload, bytes):
            path.write_bytes(payload)
        elif item.source.filename.endswith(".safetensors"):
            save_safetensors(payload, path)
        else:
            torch.save(payload, path)
        source = dataclasses.replace(item.source, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        table = next(table for table in weights.WEIGHT_TABLES if key in table)
        monkeypatch.setitem(table, key, dataclasses.replace(item, source=source, check=item.check if check else None))
        if isinstance(source, hub.HubFile):
            return put_in_hub_cache(hub_cache, source.repo_id, source.filename, path, source.revision,
                                    source.repo_type)
        target = hub.url_cache_dir() / source.sha256[:16] / source.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        return target

    return put


def vgg_trunk_tensors(conv_indices: tuple[int, ...], seed: int = 0) -> dict[str, torch.Tensor]:
    """``features.N.{weight,bias}`` with torchvision's VGG shapes and random values."""
    generator = torch.Generator().manual_seed(seed)
    channels = [64, 64, 128, 128] + [256] * (4 if len(conv_indices) == 16 else 3)
    channels += [512] * (len(conv_indices) - len(channels))
    tensors, previous = {}, 3
    for index, out in zip(conv_indices, channels):
        tensors[f"features.{index}.weight"] = torch.randn(out, previous, 3, 3, generator=generator) * 0.05
        tensors[f"features.{index}.bias"] = torch.randn(out, generator=generator) * 0.01
        previous = out
    return tensors


def timm_vgg_checkpoint(conv_indices: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """A timm ``vgg*.tv_in1k`` state dict: the trunk plus timm's classifier names and shapes."""
    tensors = vgg_trunk_tensors(conv_indices)
    # timm stores fc1 as a 7x7 conv; the values do not matter to us, only names and shapes.
    tensors["pre_logits.fc1.weight"] = torch.zeros(4096, 512, 7, 7)
    tensors["pre_logits.fc1.bias"] = torch.zeros(4096)
    tensors["pre_logits.fc2.weight"] = torch.zeros(4096, 4096, 1, 1)
    tensors["pre_logits.fc2.bias"] = torch.zeros(4096)
    tensors["head.fc.weight"] = torch.zeros(1000, 4096)
    tensors["head.fc.bias"] = torch.zeros(1000)
    return tensors


def resnet50_checkpoint() -> dict[str, torch.Tensor]:
    """torchvision's ``resnet50()`` state dict, every one of its 320 tensors, random values."""
    from torchvision.models import resnet50

    torch.manual_seed(1)
    return {name: tensor.clone() for name, tensor in resnet50(weights=None).state_dict().items()}


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(path))
    return path


def write_video(path: Path, frames: list, *, fps: int = 12, audio: bool = True) -> Path:
    """RGB uint8 frames as H.264 in MP4, with a 440 Hz tone as the sound track (AAC) when ``audio``."""
    import av
    import numpy as np

    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=44100) if audio else None
        for rgb in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            samples = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(44100 * len(frames) / fps)) / 44100)
            for start in range(0, len(samples), 1024):
                chunk = np.stack([samples[start:start + 1024]] * 2).astype(np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate = 44100
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))
    return path


def panning_frames(count: int = 24, size: tuple[int, int] = (160, 120), noise: float = 0.02) -> list:
    """A camera pan across an example photo, with sensor-like noise."""
    import numpy as np
    from PIL import Image

    photo = np.asarray(Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").resize((size[0] * 2, size[1] * 2)))
    rng = np.random.default_rng(0)
    frames = []
    for index in range(count):
        left = index * (size[0] // count)
        crop = photo[size[1] // 2:size[1] // 2 + size[1], left:left + size[0]].astype(np.float64) / 255
        frames.append((np.clip(crop + rng.normal(0, noise, crop.shape), 0, 1) * 255).astype(np.uint8))
    return frames
