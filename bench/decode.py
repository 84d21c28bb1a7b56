"""Decoding large uploads: the engine's path against a full decode and one Lanczos resize, in one run.

    python bench/decode.py               # the three pictures below, median of 3 each
    python bench/decode.py --repeats 5

A request's pictures are decoded before its job runs, and the estimate of a Fast styles job counts only its
network: eight style pictures of 100 MP took 16 s where the network took 0.3 s. The pictures: a 100 MP PNG that
compresses to almost nothing (what a hostile visitor sends within the upload limit), a 96 MP JPEG photo and a
24 MP PNG photo. For each, the median seconds of reading it as a content picture (``load_image`` at its default
16 MP) and as a style picture of the one-pass predictor (``style_picture``), each beside the way it was read
before (:func:`previous_content`, :func:`previous_style`), and what the estimate says of reading it
(:func:`nst_core.cost.reading_cost`, which the request's check adds to the network's time).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import machine  # noqa: E402 (after the path set-up)

PHOTO = ROOT / "examples" / "images" / "coffee.jpg"


def pictures(folder: Path) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    flat = folder / "flat-100mp.png"
    row = np.random.default_rng(0).integers(0, 256, (1, 5760, 3), dtype=np.uint8)
    Image.fromarray(np.broadcast_to(row, (17280, 5760, 3))).save(flat, compress_level=9)
    photo = Image.open(PHOTO).convert("RGB")
    for name, size in (("photo-96mp.jpg", (12000, 8000)), ("photo-24mp.png", (6000, 4000))):
        large = np.asarray(photo.resize(size, Image.BICUBIC), dtype=np.int16)
        large += np.random.default_rng(1).integers(-3, 4, large.shape, dtype=np.int16)  # a sensor's grain
        Image.fromarray(large.clip(0, 255).astype(np.uint8)).save(folder / name, quality=90, compress_level=1)
    return {"flat 100 MP PNG": flat, "photo 96 MP JPEG": folder / "photo-96mp.jpg",
            "photo 24 MP PNG": folder / "photo-24mp.png"}


def previous_content(path: Path):
    """How a picture was read before: drafted (a JPEG) to 16 MP, a copy turned upright, a grey check and an RGB
    copy of the whole picture, then one Lanczos resize to 16 MP."""
    from PIL import Image, ImageOps

    from nst_core.image.io import MAX_DECODE_PIXELS, is_greyscale

    image = Image.open(path)
    scale = math.sqrt(MAX_DECODE_PIXELS / (image.width * image.height))
    image.draft("RGB", (int(image.width * scale) + 1, int(image.height * scale) + 1))
    image = ImageOps.exif_transpose(image)
    is_greyscale(image)
    image = image.convert("RGB")
    scale = math.sqrt(MAX_DECODE_PIXELS / (image.width * image.height))
    return image.resize((int(image.width * scale), int(image.height * scale)), Image.LANCZOS)


def previous_style(path: Path) -> None:
    """The style picture before: read as a content picture, then reduced to at most twice the predictor's side."""
    from nst_core.image.onepass.styles import STYLE_SIDE

    image = previous_content(path)
    image.reduce(min(image.size) // (2 * STYLE_SIDE))


def seconds(work, path: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from nst_core.cost import reading_cost
    from nst_core.image.io import load_image, read_megapixels
    from nst_core.image.onepass.styles import style_picture, style_pixels

    print(machine())
    paths = {"content before": previous_content, "content": load_image, "style before": previous_style,
             "style": style_picture}
    print(f"| picture | {' | '.join(f'{name} (s)' for name in paths)} | content, style: speed-up | "
          "estimate: content, style (s) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, path in pictures(Path(folder)).items():
            row = {key: seconds(work, path, args.repeats) for key, work in paths.items()}
            estimates = [reading_cost([read_megapixels(path)]).seconds,
                         reading_cost([read_megapixels(path, max_pixels=style_pixels(path))]).seconds]
            print(f"| {name} | {' | '.join(f'{value:.2f}' for value in row.values())} | "
                  f"{row['content before'] / row['content']:.1f}x, {row['style before'] / row['style']:.1f}x | "
                  f"{estimates[0]:.2f}, {estimates[1]:.2f} |")


if __name__ == "__main__":
    main()
