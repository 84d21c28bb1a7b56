"""``nst video``: a video frame by frame with a feed-forward network (the style flags of ``nst fast``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..options import add_flags, from_flags
from ..video import VideoSettings, iter_stylize_video
from .fast import add_network_flags, compiler, network
from .jobs import VIDEO_SUFFIXES, jobs, report, with_bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("content", type=Path, help="a video (mp4, webm, mov), or a folder of them")
    add_network_flags(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the result MP4 (a folder for a folder)")
    add_flags(parser.add_argument_group("settings (VideoSettings)"), VideoSettings)


def run(args: argparse.Namespace) -> None:
    settings = from_flags(VideoSettings, args)
    model = network(args)
    compiled = compiler(args)
    for content, out in jobs(args.content, args.output, VIDEO_SUFFIXES, ".mp4"):
        result = with_bar(iter_stylize_video(content, model, settings, output=out, compiler=compiled), content.name)
        report(out, result.seconds, f"{result.runtime}; flicker {result.flicker:.2f}", result.notices)
