"""``nst image``: Gatys et al.'s optimization, one result PNG per content picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidInput
from ..image.io import read_png_settings, save_png
from ..image.optimize import ImageSettings, iter_stylize_image
from ..options import add_flags, from_flags, from_record
from .jobs import IMAGE_SUFFIXES, NOT_FLAGS, jobs, report, with_bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("content", type=Path, help="a content image, or a folder of them")
    parser.add_argument("styles", type=Path, nargs="+", metavar="STYLE", help="one or more style images")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the result PNG (a folder for a folder)")
    parser.add_argument("--settings-from", type=Path, metavar="PNG",
                        help="start from the settings stored in a result PNG; the flags given change them")
    add_flags(parser.add_argument_group("settings (ImageSettings)"), ImageSettings, skip=NOT_FLAGS)


def stored_settings(png: Path | None) -> dict:
    """The settings a result PNG stores (none without one), as :class:`ImageSettings` takes them."""
    if png is None:
        return {}
    stored = read_png_settings(png)
    if stored is None:
        raise InvalidInput(f"{png.name} stores no settings (a result PNG of this studio does).")
    return from_record(ImageSettings, stored)


def run(args: argparse.Namespace) -> None:
    settings = from_flags(ImageSettings, {**stored_settings(args.settings_from), **vars(args)})
    for content, out in jobs(args.content, args.output, IMAGE_SUFFIXES, ".png"):
        result = with_bar(iter_stylize_image(content, args.styles, settings), content.name)
        save_png(result.image, out, result.settings)
        report(out, result.seconds, result.runtime, result.notices)
