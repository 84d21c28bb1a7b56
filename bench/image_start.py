"""Benchmark the Image tab's starts: the default run (from the photo) against a run from the one-pass result.

    python bench/image_start.py                                  # the 8 reference pairs at 512 px
    python bench/image_start.py --pairs boston.jpg:udnie.jpg --size 256
    python bench/image_start.py --new schedule=0,0,40,30,25 content_weight=1.5   # another one-pass schedule

"photo" is the default (``init="content"``, five scales from 128 px, 40 L-BFGS steps each); "one-pass" is the
one-pass option as the settings make it (``ONE_PASS_SCHEDULE``: the one-pass network's weights moved by 20 steps
at 181 px, then 23 steps at 512 px on the pyramid from its rendering there), with any ``--new`` overrides;
``--previous`` adds the one-pass option as it was before the network's coarse scale (``ONE_PASS_PICTURE_SCHEDULE``:
20 and 17 steps at 362 and 512 px, the picture moved on the pyramid). Each pair runs them one after
the other in this process, so their times compare under the same load. Each result is judged by
``nst_core.image.metrics.judge_image`` at its own size (content and style distance exactly as the loss defines
them, under the bundled VGG19 in fp32; lower is better). The last lines give, per pair, the one-pass run's
distances relative to the photo run's, where the style change comes from (each style layer's part of it, in
points of the photo run's style distance; the parts sum to the change), and the targets: no worse than the photo
run by more than 3 % on either distance on any pair, in at most a third of its time (median over the pairs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine  # noqa: E402 (after the path set-up)
from image_quality import PAIRS  # noqa: E402

if TYPE_CHECKING:
    from nst_core.image.metrics import ImageScores

PHOTO_START = {"init": "content", "min_size": 128, "steps": 40, "schedule": None}
PREVIOUS_ONE_PASS = {"init": "one-pass", "parametrization": "pyramid"}
WORSE_AT_MOST, TIME_SHARE = 0.03, 1 / 3


def override(text: str) -> tuple[str, object]:
    """``name=value`` -> (name, value), the value read as an int, a float, a tuple of ints or left a string."""
    name, _, value = text.partition("=")
    for read in (int, float, lambda v: tuple(int(n) for n in v.split(","))):
        try:
            return name, read(value)
        except ValueError:
            continue
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "reference-images")
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), help="content:style file names")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--new", nargs="*", default=[], type=override, help="ImageSettings overrides, name=value")
    parser.add_argument("--previous", action="store_true", help="also run the one-pass option as it was before")
    args = parser.parse_args()

    from nst_core import ImageSettings, stylize_image
    from nst_core.image.metrics import judge_image
    runs = {"photo": PHOTO_START, "one-pass": {"init": "one-pass", **dict(args.new)}}
    if args.previous:
        runs["previous one-pass"] = PREVIOUS_ONE_PASS
    print(machine())
    print(f"one-pass settings: {ImageSettings(size=args.size, **runs['one-pass'])}")
    print("| content | style | start | seconds | content distance | style distance |")
    print("|---|---|---|---|---|---|")
    scores: dict[str, dict[str, tuple[float, ImageScores]]] = {}
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        content, style = args.images / content_name, args.images / style_name
        for name, overrides in runs.items():
            started = time.perf_counter()
            result = stylize_image(content, [style], ImageSettings(size=args.size, **overrides))
            seconds = time.perf_counter() - started
            judged = judge_image(result.image, content, style)
            scores.setdefault(pair, {})[name] = (seconds, judged)
            print(f"| {content_name} | {style_name} | {name} | {seconds:.1f} | {judged.content_distance:.3f} | "
                  f"{judged.style_distance:.4f} |", flush=True)
    summarize(scores)


def summarize(scores: dict[str, dict[str, tuple[float, ImageScores]]]) -> None:
    layers = list(next(iter(scores.values()))["photo"][1].style_by_layer)
    print(f"\n| pair | start | time share | content | style | {' | '.join(layers)} |\n"
          f"|{'---|' * (5 + len(layers))}")
    shares, misses = [], []
    for pair, runs in scores.items():
        t0, photo = runs["photo"]
        c0, s0 = photo.content_distance, photo.style_distance
        for name, (t1, judged) in runs.items():
            if name == "photo":
                continue
            content, style = judged.content_distance / c0 - 1, judged.style_distance / s0 - 1
            by_layer = [(judged.style_by_layer[layer] - photo.style_by_layer[layer]) / s0 for layer in layers]
            if name == "one-pass":
                shares.append(t1 / t0)
                misses += [f"{pair} {what} {change:+.1%}" for what, change in (("content", content),
                                                                                 ("style", style))
                           if change > WORSE_AT_MOST]
            print(f"| {pair} | {name} | {t1 / t0:.2f} | {content:+.1%} | {style:+.1%} | "
                  + " | ".join(f"{part * 100:+.1f}" for part in by_layer) + " |")
    share = statistics.median(shares)
    print(f"\nmedian time share {share:.2f} (target <= {TIME_SHARE:.2f}): {'met' if share <= TIME_SHARE else 'missed'}")
    print(f"distances no worse than +{WORSE_AT_MOST:.0%}: " + ("met on every pair" if not misses else
                                                              "missed on " + "; ".join(misses)))


if __name__ == "__main__":
    main()
