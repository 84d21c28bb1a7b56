"""When does matching the style's shadows help, and when does it hurt? Dark, bright and mixed styles.

The styles are made here (seeded, so every run sees the same pictures): ``deep-sky`` is almost all black
with small bright galaxies, ``night-lights`` a dark scene with scattered lights, ``dusk`` a mixed gradient
from light to dark with texture, ``pastel`` a bright texture with few shadows. The contents are the
reference photos and a night version of one (gamma-darkened). Each pair runs with shadow matching off,
always on (the earlier default) and judged (today's default: dropped where the final scale's loss finds the
matched result further from both the content and the style), and each result is judged by ``judge_image``.

    python bench/shadow_cases.py --size 256
    python bench/shadow_cases.py --size 512 --contents boston.jpg
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine  # noqa: E402 (after the path set-up)

MODES = {"off": {"match_shadows": False}, "always": {"judge_shadows": False}, "judged": {}}


def make_styles(folder: Path) -> dict[str, Path]:
    """The synthetic styles, as JPEGs (a user's upload would be one)."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(7)
    size = 512
    y, x = np.mgrid[0:size, 0:size] / size
    pictures = {}
    sky = rng.normal(0.0, 0.01, (size, size, 3))
    for _ in range(60):  # galaxies: small bright blobs, a few elongated
        cy, cx, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.002, 0.02)
        glow = np.exp(-(((y - cy) / radius) ** 2 + ((x - cx) / (radius * rng.uniform(1, 3))) ** 2))
        sky += glow[..., None] * rng.uniform(0.4, 1.0) * np.array(rng.choice([[1, .9, .8], [.7, .8, 1]]))
    pictures["deep-sky"] = sky
    night = np.full((size, size, 3), 0.04) + rng.normal(0, 0.02, (size, size, 3))
    for _ in range(300):  # lights
        cy, cx = rng.uniform(0.3, 1), rng.uniform(0, 1)
        night += np.exp(-(((y - cy) ** 2 + (x - cx) ** 2) / 0.00004))[..., None] * np.array([1.0, 0.8, 0.4])
    pictures["night-lights"] = night
    waves = 0.5 + 0.25 * np.sin(40 * x + 10 * np.sin(8 * y))
    pictures["dusk"] = (waves * (1.1 - y))[..., None] * np.array([1.0, 0.7, 0.5]) + rng.normal(0, .03, (size, size, 3))
    pictures["pastel"] = 0.75 + 0.2 * np.stack([np.sin(30 * x + 7 * y), np.sin(25 * y), np.cos(20 * (x + y))], -1)
    paths = {}
    for name, array in pictures.items():
        image = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
        image.save(folder / f"{name}.jpg", quality=92)
        paths[name] = folder / f"{name}.jpg"
    return paths


def night_version(photo: Path, folder: Path) -> Path:
    import numpy as np
    from PIL import Image

    array = np.asarray(Image.open(photo).convert("RGB"), dtype=np.float64) / 255
    night = folder / f"night-{photo.name}"
    Image.fromarray((array**2.2 * 0.6 * 255).astype(np.uint8)).save(night, quality=92)
    return night


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "reference-images")
    parser.add_argument("--contents", nargs="+", default=["boston.jpg", "amber.jpg"])
    parser.add_argument("--styles", nargs="+", default=["deep-sky", "night-lights", "dusk", "pastel"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = parser.parse_args()

    from PIL import Image

    from nst_core import ImageSettings, stylize_image
    from nst_core.image.metrics import judge_image, near_black

    folder = Path(tempfile.mkdtemp())
    styles = make_styles(folder)
    contents = [args.images / name for name in args.contents]
    contents.append(night_version(contents[0], folder))
    print(machine())
    print("| content | style | mode | content distance | style distance | near-black (style's) | time |")
    print("|---|---|---|---|---|---|---|")
    for content in contents:
        for style_name in args.styles:
            for mode in args.modes:
                started = time.perf_counter()
                result = stylize_image(content, [styles[style_name]], ImageSettings(size=args.size, **MODES[mode]))
                seconds = time.perf_counter() - started
                scores = judge_image(result.image, content, styles[style_name])
                style_dark = near_black(Image.open(styles[style_name]).convert("RGB"))
                print(f"| {content.name} | {style_name} | {mode} | {scores.content_distance:.3f} | "
                      f"{scores.style_distance:.4f} | {scores.near_black:.2%} ({style_dark:.2%}) "
                      f"| {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
