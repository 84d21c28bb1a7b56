"""Benchmark the Image tab's results: how stylized, how faithful, how dark, at each size and setting.

    python bench/image_quality.py                                   # reference pairs at 256 px, old vs new shadows
    python bench/image_quality.py --sizes 512 1024 --pairs boston.jpg:udnie.jpg
    python bench/image_quality.py --images ../shared/reference-images
    python bench/image_quality.py --sizes 512 --settings now --schedules 40,40,40,40,40 20,20,20,20,40

Each result is judged by ``nst_core.image.metrics.judge_image`` at its own size: content distance (relu4_2)
and style distance (Gram, relu1_1-relu5_1) exactly as the loss defines them, under the bundled original
VGG19 in fp32, against the content and style images resized to the result's size; the colour distance to
the style's palette (sliced Wasserstein, levels of 255; the content's own distance beside it: a result
whose colours stayed the content's reads close to it); and the share of near-black pixels (luminance
< 10/255), beside the style image's own. "before" is the loop without the range term and shadow matching;
"fixed" is today's loop without the style hold above 512 px (``ImageSettings.hold_style_from``); "unjudged"
matches the shadows even where the loss finds that further from both content and style
(``ImageSettings.judge_shadows``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine  # noqa: E402 (after the path set-up)

PAIRS = tuple(f"{content}:{style}" for content in ("boston.jpg", "amber.jpg")
              for style in ("candy.jpg", "mosaic.jpg", "udnie.jpg", "rain-princess-cropped.jpg"))
SETTINGS = {"before": {"range_weight": 0.0, "match_shadows": False}, "now": {},
            "fixed": {"hold_style_from": None}, "unjudged": {"judge_shadows": False}}


def raised(facts: dict) -> str:
    """How far the style hold raised the style weight (the result's ``style_weight_raised`` fact)."""
    boost = facts.get("style_weight_raised", 1.0)
    return "as set" if boost == 1.0 else f"{boost:.2g}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "reference-images")
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), help="content:style file names")
    parser.add_argument("--sizes", nargs="+", type=int, default=[256])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--schedules", nargs="+", default=[None],
                        help="steps per scale, coarse to fine, e.g. 40,40,40,40,40 (default: the settings' own)")
    args = parser.parse_args()

    from PIL import Image

    from nst_core import ImageSettings, stylize_image
    from nst_core.image.io import fit_long_side
    from nst_core.image.metrics import colour_distance, judge_image, near_black

    print(machine())
    print("| content | style | size | settings | schedule | content distance | style distance "
          "| colour distance (content's) | near-black (style's) | time | style weight |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        content, style = args.images / content_name, args.images / style_name
        style_black = near_black(Image.open(style))
        content_colours = colour_distance(fit_long_side(Image.open(content), 512), Image.open(style))
        for size in args.sizes:
            for name in args.settings:
                for schedule in args.schedules:
                    steps = tuple(int(n) for n in schedule.split(",")) if schedule else None
                    started = time.perf_counter()
                    result = stylize_image(content, [style], ImageSettings(size=size, schedule=steps,
                                                                           **SETTINGS[name]))
                    seconds = time.perf_counter() - started
                    scores = judge_image(result.image, content, style)
                    print(f"| {content_name} | {style_name} | {size} | {name} | {schedule or 'default'} | "
                          f"{scores.content_distance:.3f} | {scores.style_distance:.4f} | "
                          f"{scores.colour_distance:.1f} ({content_colours:.1f}) | {scores.near_black:.2%} "
                          f"({style_black:.2%}) | {seconds:.0f} s | {raised(result.facts)} |", flush=True)


if __name__ == "__main__":
    main()
