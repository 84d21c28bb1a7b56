"""``nst fast``: one pass of a feed-forward network; the style flags and the network they name (``nst video``
takes the same)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidInput, shown
from ..image import fast, onepass
from ..image.io import save_png
from ..options import add_flags, from_flags, parse_numbers
from ..sources import model_source
from .jobs import IMAGE_SUFFIXES, jobs, report, with_bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("content", type=Path, help="a content image, or a folder of them")
    add_network_flags(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the result PNG (a folder for a folder)")
    add_flags(parser.add_argument_group("settings (FastSettings)"), fast.FastSettings)


def add_network_flags(parser: argparse.ArgumentParser) -> None:
    """The network of a one-pass job: exactly one of a style picture (or several), a mix of the 26 styles, or
    --style (a catalogue title, a trained model or a Hub repo id); and whether it runs compiled."""
    group = parser.add_argument_group("style (give one of --style-image, --mix or --style)")
    group.add_argument("--style-image", type=Path, action="append", default=[], metavar="PICTURE",
                       help="any picture as the style (Magenta's arbitrary stylization, offline); repeat to blend")
    group.add_argument("--style-blend", metavar="WEIGHTS",
                       help="with several --style-image: one weight each, e.g. 2,1 (default: equal)")
    group.add_argument("--mix", metavar="STYLES", help=f"one of the {onepass.STYLE_COUNT} built-in styles by index "
                       "(0-25), or a mix such as 3:0.5,12:0.5 (offline)")
    group.add_argument("--style", help=f"a catalogue style ({', '.join(fast.CATALOGUE)}), a trained "
                       "model.safetensors (its config.json beside it), or a Hub repo id (hf://user/name)")
    parser.add_argument("--compiled", action=argparse.BooleanOptionalAction, default=False,
                        help="run through torch.compile (a one-off compilation first; default: off)")


def network(args: argparse.Namespace) -> fast.FastModel:
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
        raise InvalidInput(f"--style {shown(args.style)} is neither a catalogue style ({', '.join(fast.CATALOGUE)}), "
                           "a .safetensors model nor a Hub repo id.") from None
    return fast.load_user_model(source)


def compiler(args: argparse.Namespace) -> fast.Compiler | None:
    return fast.Compiler() if args.compiled else None


def run(args: argparse.Namespace) -> None:
    settings = from_flags(fast.FastSettings, args)
    model = network(args)
    compiled = compiler(args)
    for content, out in jobs(args.content, args.output, IMAGE_SUFFIXES, ".png"):
        result = with_bar(fast.iter_stylize_fast(content, model, settings, compiler=compiled), content.name)
        save_png(result.image, out, result.settings)
        report(out, result.seconds, result.runtime, result.notices)
