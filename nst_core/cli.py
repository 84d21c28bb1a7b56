"""The command line: ``python -m nst_core image|fast|video|audio`` (or ``nst``, once the package is installed).

Every field of :class:`~nst_core.ImageSettings`, :class:`~nst_core.FastSettings`,
:class:`~nst_core.video.VideoSettings` and :class:`~nst_core.AudioSettings` (and of each audio backend's
options) is a flag, generated from the dataclass (see :func:`nst_core.options.add_flags`). A folder of content
files writes one result each into the output folder. Progress is a bar on the terminal; errors are one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from .audio.backends import AUDIO_BACKENDS, backend_spec
from .audio.io import save_wav
from .audio.optimize import AudioSettings, iter_stylize_audio
from .errors import InvalidInput, NSTError
from .events import Progress
from .image import fast, onepass
from .image.io import save_png
from .image.optimize import ImageSettings, iter_stylize_image
from .options import add_flags, declarations, from_flags, parse_numbers
from .sources import model_source
from .video import VideoSettings, iter_stylize_video

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")
NOT_FLAGS = ("preview_every",)  # the app's preview cadence; a terminal shows a bar instead


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer for images and sounds.")
    commands = parser.add_subparsers(dest="command", required=True)

    image = commands.add_parser("image", help="optimization-based style transfer (Gatys et al.)")
    image.add_argument("content", type=Path, help="a content image, or a folder of them")
    image.add_argument("styles", type=Path, nargs="+", metavar="STYLE", help="one or more style images")
    image.add_argument("-o", "--output", type=Path, required=True, help="the result PNG (a folder for a folder)")
    add_flags(image.add_argument_group("settings (ImageSettings)"), ImageSettings, skip=NOT_FLAGS)

    quick = commands.add_parser("fast", help="one pass of a feed-forward network: any picture as the style, one of "
                                "26 built-in styles, a catalogue style or a trained model")
    quick.add_argument("content", type=Path, help="a content image, or a folder of them")
    _style_flags(quick)
    quick.add_argument("-o", "--output", type=Path, required=True, help="the result PNG (a folder for a folder)")
    quick.add_argument("--compiled", action=argparse.BooleanOptionalAction, default=False,
                       help="run through torch.compile (a one-off compilation first; default: off)")
    add_flags(quick.add_argument_group("settings (FastSettings)"), fast.FastSettings)

    video = commands.add_parser("video", help="a video, frame by frame, with a feed-forward style")
    video.add_argument("content", type=Path, help="a video (mp4, webm, mov), or a folder of them")
    _style_flags(video)
    video.add_argument("-o", "--output", type=Path, required=True, help="the result MP4 (a folder for a folder)")
    video.add_argument("--compiled", action=argparse.BooleanOptionalAction, default=False,
                       help="run through torch.compile (a one-off compilation first; default: off)")
    add_flags(video.add_argument_group("settings (VideoSettings)"), VideoSettings)

    audio = commands.add_parser("audio", help="audio style transfer on spectrograms")
    audio.add_argument("content", type=Path, help="a content clip, or a folder of them")
    audio.add_argument("styles", type=Path, nargs="+", metavar="STYLE", help="one or more style clips")
    audio.add_argument("-o", "--output", type=Path, required=True, help="the result WAV (a folder for a folder)")
    add_flags(audio.add_argument_group("settings (AudioSettings)"), AudioSettings, skip=("options", *NOT_FLAGS))
    for spec in AUDIO_BACKENDS.values():
        add_flags(audio.add_argument_group(f"{spec.title} options (--backend {spec.name})"), spec.options)
    return parser


def _jobs(content: Path, output: Path, suffixes: tuple[str, ...], result_suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one for a file, one per matching file for a folder (outputs named after inputs)."""
    if not content.is_dir():
        if not content.is_file():
            raise InvalidInput(f"{content} does not exist.")
        return [(content, output)]
    files = sorted(p for p in content.iterdir() if p.suffix.lower() in suffixes)
    if not files:
        raise InvalidInput(f"{content} holds no {', '.join(suffixes)} files.")
    if output.suffix:
        raise InvalidInput(f"For a folder of inputs, give an output folder (got the file name {output.name}).")
    output.mkdir(parents=True, exist_ok=True)
    return [(path, output / f"{path.stem}{result_suffix}") for path in files]


def _with_bar(events: Iterator[object], label: str) -> object:
    """Run ``events`` to the end behind a progress bar; returns the last event (the result)."""
    from tqdm.auto import tqdm

    last = None
    with tqdm(desc=label, unit="step", leave=False, disable=None) as bar:
        for last in events:
            if isinstance(last, Progress):
                bar.total = last.total
                bar.update(last.done - bar.n)
    return last


def run_image(args: argparse.Namespace) -> None:
    settings = from_flags(ImageSettings, args)
    for content, out in _jobs(args.content, args.output, IMAGE_SUFFIXES, ".png"):
        result = _with_bar(iter_stylize_image(content, args.styles, settings), content.name)
        save_png(result.image, out, result.settings)
        _report(out, result.seconds, result.runtime, result.notices)


def _style_flags(parser: argparse.ArgumentParser) -> None:
    """The network of a one-pass job: exactly one of a style picture (or several), a mix of the 26 styles, or
    --style (a catalogue title, a trained model or a Hub repo id)."""
    group = parser.add_argument_group("style (give one of --style-image, --mix or --style)")
    group.add_argument("--style-image", type=Path, action="append", default=[], metavar="PICTURE",
                       help="any picture as the style (Magenta's arbitrary stylization, offline); repeat to blend")
    group.add_argument("--style-blend", metavar="WEIGHTS",
                       help="with several --style-image: one weight each, e.g. 2,1 (default: equal)")
    group.add_argument("--mix", metavar="STYLES", help=f"one of the {onepass.STYLE_COUNT} built-in styles by index "
                       "(0-25), or a mix such as 3:0.5,12:0.5 (offline)")
    group.add_argument("--style", help=f"a catalogue style ({', '.join(fast.CATALOGUE)}), a trained "
                       "model.safetensors (its config.json beside it), or a Hub repo id (hf://user/name)")


def _fast_model(args: argparse.Namespace) -> fast.FastModel:
    """The network that ``--style-image``, ``--mix`` or ``--style`` names."""
    given = [flag for flag, value in (("--style-image", args.style_image), ("--mix", args.mix),
                                      ("--style", args.style)) if value]
    if len(given) != 1:
        raise InvalidInput("Give one of --style-image, --mix or --style" + (f" (got {' and '.join(given)})."
                                                                           if given else "."))
    if args.style_image:
        weights = parse_numbers(args.style_blend, "--style-blend", integer=False) if args.style_blend else None
        return onepass.any_picture_model(args.style_image, weights)
    if args.mix:
        return onepass.multistyle_model(args.mix)
    if args.style in fast.CATALOGUE:
        return fast.load_catalogue_style(args.style)
    try:
        source = model_source(args.style, local_paths=True)
    except InvalidInput:
        raise InvalidInput(f"--style {args.style!r} is neither a catalogue style ({', '.join(fast.CATALOGUE)}), "
                           "a .safetensors model nor a Hub repo id.") from None
    return fast.load_user_model(source)


def run_fast(args: argparse.Namespace) -> None:
    settings = from_flags(fast.FastSettings, args)
    model = _fast_model(args)
    compiler = fast.Compiler() if args.compiled else None
    for content, out in _jobs(args.content, args.output, IMAGE_SUFFIXES, ".png"):
        result = _with_bar(fast.iter_stylize_fast(content, model, settings, compiler=compiler), content.name)
        save_png(result.image, out, result.settings)
        _report(out, result.seconds, result.runtime, result.notices)


def run_video(args: argparse.Namespace) -> None:
    settings = from_flags(VideoSettings, args)
    model = _fast_model(args)
    compiler = fast.Compiler() if args.compiled else None
    for content, out in _jobs(args.content, args.output, VIDEO_SUFFIXES, ".mp4"):
        result = _with_bar(iter_stylize_video(content, model, settings, output=out, compiler=compiler), content.name)
        _report(out, result.seconds, f"{result.runtime}; flicker {result.flicker:.2f}", result.notices)


def _backend_options(args: argparse.Namespace, backend: str) -> object:
    """The chosen backend's options from its flags; a flag of another backend is an error, not ignored."""
    for spec in AUDIO_BACKENDS.values():
        given = [field.name for field in declarations(spec.options) if field.name in vars(args)]
        if given and spec.name != backend:
            raise InvalidInput(f"--{given[0].replace('_', '-')} is an option of the {spec.name} backend, "
                               f"not of {backend}.")
    return from_flags(backend_spec(backend).options, args)


def run_audio(args: argparse.Namespace) -> None:
    backend = getattr(args, "backend", AudioSettings.backend)
    settings = from_flags(AudioSettings, args, options=_backend_options(args, backend))
    for content, out in _jobs(args.content, args.output, AUDIO_SUFFIXES, ".wav"):
        result = _with_bar(iter_stylize_audio(content, args.styles, settings), content.name)
        save_wav(out, result.samples, result.sample_rate)
        _report(out, result.seconds, result.runtime, result.notices)


def _report(out: Path, seconds: float, runtime: str, notices: list[str]) -> None:
    print(f"{out} ({seconds:.1f} s on {runtime})")
    for notice in notices:
        print(f"  note: {notice}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        {"image": run_image, "fast": run_fast, "video": run_video, "audio": run_audio}[args.command](args)
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return 130
    return 0
