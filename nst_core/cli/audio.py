"""``nst audio``: audio style transfer on spectrograms, with the chosen backend's own flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..audio.backends import AUDIO_BACKENDS, backend_spec
from ..audio.io import save_wav
from ..audio.optimize import AudioSettings, iter_stylize_audio
from ..errors import InvalidInput
from ..options import add_flags, declarations, from_flags
from .jobs import AUDIO_SUFFIXES, NOT_FLAGS, jobs, report, with_bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("content", type=Path, help="a content clip, or a folder of them")
    parser.add_argument("styles", type=Path, nargs="+", metavar="STYLE", help="one or more style clips")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the result WAV (a folder for a folder)")
    add_flags(parser.add_argument_group("settings (AudioSettings)"), AudioSettings, skip=("options", *NOT_FLAGS))
    for spec in AUDIO_BACKENDS.values():
        add_flags(parser.add_argument_group(f"{spec.title} options (--backend {spec.name})"), spec.options)


def _backend_options(args: argparse.Namespace, backend: str) -> object:
    """The chosen backend's options from its flags; a flag of another backend is an error, not ignored."""
    for spec in AUDIO_BACKENDS.values():
        given = [field.name for field in declarations(spec.options) if field.name in vars(args)]
        if given and spec.name != backend:
            raise InvalidInput(f"--{given[0].replace('_', '-')} is an option of the {spec.name} backend, "
                               f"not of {backend}.")
    return from_flags(backend_spec(backend).options, args)


def run(args: argparse.Namespace) -> None:
    backend = getattr(args, "backend", AudioSettings.backend)
    settings = from_flags(AudioSettings, args, options=_backend_options(args, backend))
    for content, out in jobs(args.content, args.output, AUDIO_SUFFIXES, ".wav"):
        result = with_bar(iter_stylize_audio(content, args.styles, settings), content.name)
        save_wav(out, result.samples, result.sample_rate)
        report(out, result.seconds, result.runtime, result.notices)
