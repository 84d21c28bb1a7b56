"""The command line: ``python -m nst_core image|fast|video|audio`` (or ``nst``, once the package is installed).

Every field of :class:`~nst_core.ImageSettings`, :class:`~nst_core.FastSettings`,
:class:`~nst_core.video.VideoSettings` and :class:`~nst_core.AudioSettings` (and of each audio backend's
options) is a flag, generated from the dataclass (see :func:`nst_core.options.add_flags`). A folder of content
files writes one result each into the output folder. Progress is a bar on the terminal; errors are one line on
stderr and exit code 2.

One module per command (:mod:`.image`, :mod:`.fast`, :mod:`.video`, :mod:`.audio`), each with
``add_arguments(parser)`` and ``run(args)``; only the command given is imported, so ``nst image`` does not load
the audio stack and ``nst audio`` does not load torchvision.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from ..errors import NSTError

COMMANDS = {
    "image": "optimization-based style transfer (Gatys et al.)",
    "fast": "one pass of a feed-forward network: any picture as the style, one of 26 built-in styles, a catalogue "
            "style or a trained model",
    "video": "a video, frame by frame, with a feed-forward style",
    "audio": "audio style transfer on spectrograms",
}


def _command(name: str) -> ModuleType:
    return importlib.import_module(f".{name}", __name__)


def build_parser(commands: Sequence[str] = tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The parser; only ``commands`` get their flags (the others are listed with their help, as ``nst -h`` shows)."""
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer for images and sounds.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=text)
        if name in commands:
            _command(name).add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    given = [argv[0]] if argv and argv[0] in COMMANDS else []
    args = build_parser(given).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        _command(args.command).run(args)
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nst: interrupted", file=sys.stderr)
        return 130
    return 0
