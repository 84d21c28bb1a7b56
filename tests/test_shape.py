"""One shape per modality, typed errors only, explicit state, and the paths no other test walks."""

from __future__ import annotations

import inspect
import random
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

import nst_core
from conftest import EXAMPLES, ROOT
from nst_core import (
    AudioSettings,
    FastModel,
    FastSettings,
    FastStyle,
    ImageSettings,
    InvalidInput,
    NSTError,
    hub,
    stylize_audio,
    stylize_fast,
    stylize_image,
    weights,
)
from nst_core.audio.backends import CNN14, GenreCNN, ShallowNet, ShallowOptions, VGGish, load_backend
from nst_core.image.backbones import backbone_spec, load_backbone, random_backbone
from nst_core.image.fast import TransformerNet
from nst_core.image.io import read_png_settings
from nst_core.runtime import pick_runtime, seeded

AUDIO = ROOT / "examples" / "audio"


@pytest.mark.parametrize("modality", ["image", "fast", "audio"])
def test_every_modality_has_one_shape(modality):
    """Settings -> iter_stylize_* (events, then the result) / stylize_* -> result, all exported from nst_core."""
    names = {"image": ("ImageSettings", "ImageResult"), "fast": ("FastSettings", "FastResult"),
             "audio": ("AudioSettings", "AudioResult")}[modality]
    for name in (*names, f"iter_stylize_{modality}", f"stylize_{modality}"):
        assert name in nst_core.__all__, name
    iterate, run = getattr(nst_core, f"iter_stylize_{modality}"), getattr(nst_core, f"stylize_{modality}")
    positional = [p.name for p in inspect.signature(run).parameters.values()
                  if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional[0] == "content" and positional[-1] == "settings" and len(positional) == 3
    assert inspect.signature(run).parameters["settings"].annotation.startswith(names[0])
    assert "on_progress" in inspect.signature(run).parameters
    assert [p for p in inspect.signature(iterate).parameters][:3] == positional


def _bad_png(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("nst-settings", "{not json")
    Image.new("RGB", (4, 4)).save(tmp_path / "bad.png", pnginfo=info)
    (tmp_path / "text.png").write_text("not a PNG at all")
    return tmp_path / "bad.png", tmp_path / "text.png"


def test_errors_leave_the_engine_typed(tmp_path):
    """Bad names, settings and files raise the project's typed errors, never ValueError, KeyError or JSON errors."""
    bad_json, not_png = _bad_png(tmp_path)
    tiny = random_backbone("vgg19")
    calls = {
        "backbone": lambda: backbone_spec("vgg99"),
        "precision": lambda: pick_runtime("cpu", "fp64"),
        "fp16 on cpu": lambda: pick_runtime("cpu", "fp16"),
        "device": lambda: pick_runtime("tpu"),
        "image layer": lambda: tiny(torch.rand(1, 3, 32, 32), ["relu9_9"]),
        "audio layer": lambda: ShallowNet(filters=(8,))(torch.rand(1, 1025, 20), {"relu7"}),
        "audio backend": lambda: load_backend("wavenet"),
        "audio options": lambda: load_backend("shallow", ShallowOptions(kernel=-1)),
        "weights": lambda: weights.entry("nope"),
        "network": lambda: weights.network("nope"),
        "png json": lambda: read_png_settings(bad_json),
        "png file": lambda: read_png_settings(not_png),
        "audio precision": lambda: AudioSettings(precision="fp64").check(1),
        "fast strength": lambda: FastSettings(strength=2.0).check(),
        "fast tiles": lambda: FastSettings(tile_pixels=1).check(),
        "image layer setting": lambda: ImageSettings(content_layers=("relu9_9",)).check(1),
    }
    for name, call in calls.items():
        with pytest.raises(NSTError) as info:
            call()
        assert isinstance(info.value, InvalidInput), (name, info.value)
        assert str(tmp_path) not in str(info.value), name


def _global_random_state():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def test_runs_draw_from_their_own_generator_and_leave_the_global_ones_alone():
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = _global_random_state()
    settings = AudioSettings(steps=3, init="noise", adaptive=False, griffin_lim_iterations=2,
                             options=ShallowOptions(filters=(32,)), seed=7)
    first = stylize_audio(AUDIO / "piano_melody.flac", AUDIO / "rain.flac", settings)
    load_backend("genre")  # seeded random weights
    random_backbone("vgg16", seed=2)
    after = _global_random_state()
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]
    torch.manual_seed(999)  # a different global state must not change a seeded run
    second = stylize_audio(AUDIO / "piano_melody.flac", AUDIO / "rain.flac", settings)
    assert np.array_equal(first.samples, second.samples)
    # Seeded random networks are the same whatever the global state.
    torch.manual_seed(5)
    a = load_backend("genre").convs[0].weight
    torch.manual_seed(6)
    assert torch.equal(a, load_backend("genre").convs[0].weight)


def test_user_input_adds_nothing_to_the_weight_tables(hub_cache):
    """A user's Hub repo is fetched like any other file, but no table grows; nothing registers on import."""
    sizes = [len(table) for table in weights.WEIGHT_TABLES]
    from nst_core.image.fast import load_hub_model

    for repo in ("someone/style-a", "someone/style-b"):
        with pytest.raises(nst_core.WeightsUnavailable):
            load_hub_model(repo)
    assert [len(table) for table in weights.WEIGHT_TABLES] == sizes
    assert not hasattr(hub, "REGISTRY") and not hasattr(hub, "register")


def test_tile_statistics_are_arguments_not_state_on_the_network():
    """Normalizing with the picture's own statistics, given as an argument, is the plain pass; the network keeps
    no mode or statistics of its own, and its checkpoint layout is the published one."""
    with seeded(0):
        net = TransformerNet().eval()
    x = torch.rand(1, 3, 40, 48) * 255
    with torch.no_grad():
        stats = net.statistics(x)
        assert len(stats) == 15
        assert torch.allclose(net(x, stats), net(x), atol=1e-3)
        other = net.statistics(torch.rand(1, 3, 40, 48) * 255)
        assert not torch.allclose(net(x, other), net(x), atol=1e-3)
    assert not any(name.startswith("shared") or "mode" in vars(m) for m in net.modules() for name in vars(m))
    assert all(not name.endswith(("shared_mean", "shared_var")) for name in net.state_dict())


def test_colour_matching_runs_through_the_whole_loop():
    """match-* colour modes recolour the style to the photo's palette first: the result's colours follow."""
    content, style = Image.open(EXAMPLES / "chelsea.jpg"), Image.open(EXAMPLES / "style_mosaic.jpg")
    network = load_backbone("vgg19")
    content_mean = np.asarray(content.resize((64, 48)), dtype=float).mean(axis=(0, 1))
    distance = {}
    for color in ("none", "match-meancov", "match-histogram"):
        settings = ImageSettings(size=64, min_size=64, steps=6, color=color, precision="fp32")
        result = stylize_image(content, [style], settings, network=network)
        assert result.settings["color"] == color
        distance[color] = np.abs(np.asarray(result.image, dtype=float).mean(axis=(0, 1)) - content_mean).sum()
    assert distance["match-meancov"] < distance["none"] and distance["match-histogram"] < distance["none"], distance


def test_audio_noise_start_adam_and_several_styles():
    settings = AudioSettings(steps=12, init="noise", optimizer="adam", learning_rate=0.05, adaptive=False,
                             griffin_lim_iterations=4, options=ShallowOptions(filters=(64,)))
    totals = []
    result = stylize_audio(AUDIO / "piano_melody.flac", [AUDIO / "rain.flac", AUDIO / "string_pad.flac"], settings,
                           on_progress=lambda event: totals.append(event.losses["total"]))
    assert result.settings["num_styles"] == 2 and result.settings["optimizer"] == "adam"
    assert np.isfinite(result.samples).all() and totals[-1] < totals[0]
    from_content = stylize_audio(AUDIO / "piano_melody.flac", [AUDIO / "rain.flac", AUDIO / "string_pad.flac"],
                                 AudioSettings(steps=12, optimizer="adam", adaptive=False,
                                               griffin_lim_iterations=4, options=ShallowOptions(filters=(64,))))
    # Started from noise, 12 steps leave the result further from the content than a start from the content does.
    assert result.scores.log_spectral_distance > from_content.scores.log_spectral_distance


@pytest.mark.parametrize("make", [VGGish, lambda: CNN14("16k"), GenreCNN], ids=["vggish", "cnn14", "genre"])
def test_pretrained_backends_run_the_whole_loop(make, tmp_path):
    """The loop with each 2-D backend (random weights here: the pretrained files are not on this machine)."""
    backend = make().eval().requires_grad_(False)
    rate = 22050
    content, style = (soundfile.read(AUDIO / name)[0][: 5 * rate] for name in ("piano_melody.flac", "rain.flac"))
    soundfile.write(tmp_path / "content.wav", content, rate)
    soundfile.write(tmp_path / "style.wav", style, rate)
    settings = AudioSettings(backend=backend.name, steps=3, adaptive=False, griffin_lim_iterations=2)
    events = []
    result = stylize_audio(tmp_path / "content.wav", tmp_path / "style.wav", settings, backend=backend,
                           on_progress=events.append)
    assert len(events) == 3 and result.sample_rate == backend.frame.sample_rate
    assert abs(len(result.samples) - 5 * backend.frame.sample_rate) < backend.frame.hop
    assert np.isfinite(result.samples).all() and result.scores.onset_correlation > 0.3
    expected = {"style", "content", "spectral"} if backend.defaults.spectral_content_weight else {"style", "content"}
    assert {name for name, value in events[-1].losses.items() if value > 0} >= expected


def _run_module(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=400)


def test_fast_training_command_line_writes_a_model_the_app_loads(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(["chelsea.jpg", "coffee.jpg"]):
        Image.open(EXAMPLES / name).resize((48, 40)).save(photos / f"{i}.png")
    done = _run_module("nst_core.image.train_fast", "--style", str(EXAMPLES / "style_mosaic.jpg"), "--data",
                       str(photos), "--out", str(tmp_path / "model"), "--size", "32", "--batch-size", "1",
                       "--steps", "2", "--checkpoint-every", "2", "--title", "Tiny")
    assert done.returncode == 0, done.stderr[-2000:]
    from nst_core.image.fast import load_fast_model

    model = load_fast_model(tmp_path / "model" / "model.safetensors")
    assert model.style.title == "Tiny" and (tmp_path / "model" / "checkpoints" / "step-000002").is_dir()
    assert stylize_fast(Image.open(EXAMPLES / "coffee.jpg").resize((40, 32)), model).image.size == (40, 32)
    refused = _run_module("nst_core.image.train_fast", "--style", "x.jpg", "--data", str(tmp_path / "none"),
                          "--out", str(tmp_path / "no"))
    assert refused.returncode != 0


def test_genre_training_command_line_writes_a_model_the_backend_loads(tmp_path):
    rate = 22050
    t = np.arange(3 * rate) / rate
    for genre, make in (("jazz", lambda i: 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)),
                        ("metal", lambda i: np.random.default_rng(i).standard_normal(len(t)) * 0.3)):
        folder = tmp_path / "genres" / genre
        folder.mkdir(parents=True)
        for i in range(3):
            soundfile.write(folder / f"{genre}.0000{i}.wav", make(i), rate)
    done = _run_module("nst_core.audio.train_genre", "--out", str(tmp_path / "model"), "--data",
                       str(tmp_path / "genres"), "--epochs", "1", "--batch-size", "4")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "best validation accuracy" in done.stdout
    from nst_core.audio.backends import GenreOptions

    net = load_backend("genre", GenreOptions(model=str(tmp_path / "model" / "model.safetensors")))
    assert net.head.out_features == 2 and "trained" in net.weights_note


def test_fast_styles_take_a_model_not_a_network_and_its_facts_apart():
    """Every loader returns a FastModel; stylize_fast takes one, so a network is never paired with the wrong facts."""
    parameters = inspect.signature(stylize_fast).parameters
    assert parameters["model"].annotation == "FastModel" and "net" not in parameters and "style" not in parameters
    from nst_core.image import fast

    for loader in (fast.load_catalogue_style, fast.load_fast_model, fast.load_hub_model):
        assert inspect.signature(loader).return_annotation == "FastModel", loader.__name__
    model = FastModel(TransformerNet().eval(), FastStyle("t", "t", "", value_range=255, channel_order="bgr"))
    events = list(nst_core.iter_stylize_fast(Image.open(EXAMPLES / "coffee.jpg").resize((300, 280)), model,
                                             FastSettings(precision="fp32", tile_pixels=64 * 64)))
    progress, result = events[:-1], events[-1]
    assert [e.done for e in progress] == list(range(1, result.tiles + 1)) and result.tiles > 1


def test_fp32_is_a_precision_not_a_device(monkeypatch):
    """Asking for fp32 keeps the GPU where there is one (it only turns autocast off)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    runtime = pick_runtime("auto", "fp32")
    assert runtime.device.type == "cuda" and runtime.autocast_dtype is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_runtime("auto", "fp32").device.type == "cpu"
