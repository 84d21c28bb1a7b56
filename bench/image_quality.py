"""Benchmark the Image tab's results: how stylized, how faithful, how dark, at each size and setting.

    python bench/image_quality.py                                   # reference pairs at 256 px, old vs new shadows
    python bench/image_quality.py --sizes 512 1024 --pairs boston.jpg:udnie.jpg
    python bench/image_quality.py --images ../shared/reference-images
    python bench/image_quality.py --sizes 512 --settings now --schedules 40,40,40,40,40 20,20,20,20,40

Each result is judged at its own size with the bundled original VGG19 in fp32: content distance (relu4_2)
and style distance (Gram, relu1_1-relu5_1) exactly as the loss defines them, against the content and
style images resized to the result's size; and the share of near-black pixels (luminance < 10/255),
beside the style image's own. "before" is the loop without the range term and shadow matching.
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
SETTINGS = {"before": {"range_weight": 0.0, "match_shadows": False}, "now": {}}


def near_black(image) -> float:
    import numpy as np

    return float((np.asarray(image.convert("RGB"), dtype=np.float32).mean(axis=2) < 10).mean())


def judge(image, content_path: Path, style_path: Path) -> tuple[float, float]:
    """(content distance, style distance) of ``image`` at its own size, under the bundled VGG19 in fp32."""
    import torch
    from PIL import Image

    from nst_core.image.backbones import load_backbone
    from nst_core.image.io import fit_long_side, to_tensor
    from nst_core.image.optimize import ImageSettings, image_objective
    from nst_core.runtime import pick_runtime

    side = max(image.size)
    content = to_tensor(fit_long_side(Image.open(content_path).convert("RGB"), side))
    style = to_tensor(fit_long_side(Image.open(style_path).convert("RGB"), side))
    objective = image_objective(load_backbone("vgg19"), pick_runtime("cpu", "fp32"), ImageSettings(), content, [style])
    with torch.no_grad():
        _, terms = objective(to_tensor(image))
    return terms["content"], terms["style"]


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

    print(machine())
    print("| content | style | size | settings | schedule | content distance | style distance | near-black (style's) "
          "| time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        content, style = args.images / content_name, args.images / style_name
        style_black = near_black(Image.open(style))
        for size in args.sizes:
            for name in args.settings:
                for schedule in args.schedules:
                    steps = tuple(int(n) for n in schedule.split(",")) if schedule else None
                    started = time.perf_counter()
                    result = stylize_image(content, [style], ImageSettings(size=size, schedule=steps,
                                                                           **SETTINGS[name]))
                    seconds = time.perf_counter() - started
                    content_distance, style_distance = judge(result.image, content, style)
                    print(f"| {content_name} | {style_name} | {size} | {name} | {schedule or 'default'} | "
                          f"{content_distance:.3f} | {style_distance:.4f} | {near_black(result.image):.2%} "
                          f"({style_black:.2%}) | {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
