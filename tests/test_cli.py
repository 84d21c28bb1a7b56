"""The command line as a user runs it: ``nst`` (and ``python -m nst_core``) in a subprocess."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
from PIL import Image

from conftest import EXAMPLES, ROOT
from nst_core import AudioSettings, FastSettings, ImageSettings
from nst_core.audio.backends import AUDIO_BACKENDS
from nst_core.image.io import read_png_settings

AUDIO = ROOT / "examples" / "audio"
# The console script installed beside the interpreter running the tests: found whether or not its environment
# is activated (IDEs and many CI setups run ``/path/to/venv/bin/python -m pytest`` without activating it).
NST = str(Path(sys.executable).with_name("nst"))


def _nst(*args, tmp_path, module=False):
    # A PATH without the environment's bin folder and no VIRTUAL_ENV: as a run from an IDE or CI sees it.
    env = {**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, "PATH": "/usr/bin:/bin",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "nst_core"] if module else [NST]
    return subprocess.run([*command, *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


# Which heavy packages a command's parser loads: a command loads its own modality only (nst_core imports a
# modality on first use), and ``nst -h`` loads no torch at all.
LOADED = """
import json, sys
from nst_core.cli import build_parser
try:
    build_parser(json.loads(sys.argv[1])).parse_args(json.loads(sys.argv[2]))
except SystemExit:  # --help
    pass
print(json.dumps(sorted({'torch', 'torchvision', 'librosa', 'torchaudio'} & set(sys.modules))))
"""


@pytest.mark.parametrize(("argv", "loaded"), [
    (["--help"], []),
    (["image", "a.jpg", "b.jpg", "-o", "c.png"], ["torch"]),
    (["fast", "a.jpg", "--mix", "3", "-o", "c.png"], ["torch"]),
    (["video", "a.mp4", "--mix", "3", "-o", "c.mp4"], ["torch"]),
    (["audio", "a.wav", "b.wav", "-o", "c.wav"], ["librosa", "torch", "torchaudio"]),
])
def test_a_command_loads_only_its_own_modality(argv, loaded):
    done = subprocess.run([sys.executable, "-c", LOADED, json.dumps(argv[:1]), json.dumps(argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == loaded


def test_every_setting_is_a_flag():
    """Flags are generated from the settings dataclasses and the backends' options: none is missing."""
    import argparse

    from nst_core.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    from nst_core.video import VideoSettings

    for command, classes in (("image", [ImageSettings]), ("fast", [FastSettings]), ("video", [VideoSettings]),
                             ("audio", [AudioSettings, *(spec.options for spec in AUDIO_BACKENDS.values())])):
        shown = commands[command].format_help()
        for cls in classes:
            for field in dataclasses.fields(cls):
                if field.name not in ("preview_every", "options"):
                    assert f"--{field.name.replace('_', '-')}" in shown, (command, field.name)


def test_image_command_writes_a_png_with_the_flags_settings(tmp_path):
    done = _nst("image", EXAMPLES / "chelsea.jpg", EXAMPLES / "style_mosaic.jpg", "-o", tmp_path / "cat.png",
                "--size", 64, "--min-size", 64, "--steps", 3, "--color", "luminance", "--precision", "fp32",
                "--no-match-shadows", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    settings = read_png_settings(tmp_path / "cat.png")
    assert settings["size"] == 64 and settings["color"] == "luminance" and settings["match_shadows"] is False
    assert max(Image.open(tmp_path / "cat.png").size) == 64 and "cat.png" in done.stdout
    # The result's own settings start the next run; the flags given change them.
    again = _nst("image", EXAMPLES / "chelsea.jpg", EXAMPLES / "style_mosaic.jpg", "-o", tmp_path / "again.png",
                 "--settings-from", tmp_path / "cat.png", "--seed", 7, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    repeated = read_png_settings(tmp_path / "again.png")
    assert {key: (value, repeated[key]) for key, value in settings.items() if repeated[key] != value} == {
        "seed": (0, 7)}
    refused = _nst("image", EXAMPLES / "chelsea.jpg", EXAMPLES / "style_mosaic.jpg", "-o", tmp_path / "x.png",
                   "--settings-from", EXAMPLES / "chelsea.jpg", tmp_path=tmp_path)
    assert refused.returncode == 2 and "chelsea.jpg stores no settings" in refused.stderr, refused.stderr[-500:]


def test_fast_command_on_a_folder_writes_one_result_each(tmp_path):
    from nst_core.image.fast import FastStyle, TransformerNet, save_fast_model
    from nst_core.runtime import seeded

    with seeded(0):
        net = TransformerNet().eval()
    save_fast_model(net, tmp_path / "model", FastStyle("x", "Mine", "", value_range=255, channel_order="rgb"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        Image.open(EXAMPLES / name).resize((40, 30)).save(photos / name)
    (photos / "notes.txt").write_text("not a photo: left alone")
    done = _nst("fast", photos, "--style", tmp_path / "model" / "model.safetensors", "-o", tmp_path / "out",
                "--strength", 0.5, "--precision", "fp32", tmp_path=tmp_path, module=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["chelsea.png", "coffee.png"]
    assert read_png_settings(tmp_path / "out" / "coffee.png")["strength"] == 0.5


def test_video_command_keeps_the_frame_rate(tmp_path):
    import av

    from conftest import panning_frames, write_video
    from nst_core.image.fast import FastStyle, TransformerNet, save_fast_model
    from nst_core.runtime import seeded

    with seeded(0):
        net = TransformerNet().eval()
    save_fast_model(net, tmp_path / "model", FastStyle("x", "Mine", "", value_range=255, channel_order="rgb"))
    source = write_video(tmp_path / "pan.mp4", panning_frames(12, (128, 96)), fps=12)
    done = _nst("video", source, "--style", tmp_path / "model" / "model.safetensors", "-o", tmp_path / "out.mp4",
                "--long-side", 64, "--stability", "frame", "--precision", "fp32", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 48)
        assert float(stream.average_rate) == 12.0 and container.streams.audio
    assert "flicker" in done.stdout


def test_audio_command_takes_the_backends_own_flags(tmp_path):
    done = _nst("audio", AUDIO / "piano_melody.flac", AUDIO / "rain.flac", "-o", tmp_path / "out.wav",
                "--backend", "shallow", "--filters", 64, "--steps", 3, "--griffin-lim-iterations", 4,
                "--no-adaptive", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    samples, rate = soundfile.read(tmp_path / "out.wav")
    assert rate == 22050 and abs(len(samples) - 8 * rate) < 10


@pytest.mark.parametrize("args, message", [
    (["image", "absent.jpg", EXAMPLES / "style_mosaic.jpg", "-o", "x.png"], "absent.jpg does not exist"),
    (["audio", AUDIO / "piano_melody.flac", AUDIO / "rain.flac", "-o", "x.wav", "--backend", "cnn14",
      "--filters", "64"], "--filters is an option of the shallow backend, not of cnn14"),
    (["fast", EXAMPLES / "coffee.jpg", "--style", "Sunflowers", "-o", "x.png"], "neither a catalogue style"),
    (["image", EXAMPLES / "chelsea.jpg", EXAMPLES / "style_mosaic.jpg", "-o", "x.png", "--size", 5], "size must be"),
    (["fast", EXAMPLES / "coffee.jpg", "--style", "Mosaic", "-o", "x.png"], "weights 'fast-mosaic' are unavailable"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    done = _nst(*args, tmp_path=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("nst: error:")


def test_a_flag_of_the_wrong_type_is_refused_by_the_parser(tmp_path):
    done = _nst("image", "a.jpg", "b.jpg", "-o", "x.png", "--steps", "many", tmp_path=tmp_path)
    assert done.returncode == 2 and "--steps: invalid int value: 'many'" in done.stderr
