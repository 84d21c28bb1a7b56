"""Make the image examples: procedurally painted style images, and copies of scikit-image's free photos.

    python examples/make_image_examples.py            # styles only (needs numpy and Pillow)
    python examples/make_image_examples.py --photos   # also copy photos from an installed scikit-image

The style images are generated here, so the project may ship them. The photos are scikit-image's
sample data: astronaut (NASA, public domain), chelsea (CC0, Stefan van der Walt), coffee (CC0,
Rachel Michetti).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent / "images"
SIZE = 512


def mosaic(seed: int = 1) -> Image.Image:
    """Voronoi tiles in a warm palette with dark grout, like a stained-glass window."""
    rng = np.random.default_rng(seed)
    palette = np.array([[204, 51, 38], [242, 176, 53], [38, 84, 166], [46, 139, 87], [232, 222, 196],
                        [120, 40, 110], [20, 150, 190]], dtype=np.float32)
    centres = rng.uniform(0, SIZE, size=(260, 2))
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    points = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.float32)
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    order = np.argsort(distances, axis=1)[:, :2]
    nearest = np.take_along_axis(distances, order, axis=1)
    colour = palette[rng.integers(0, len(palette), len(centres))][order[:, 0]]
    colour *= rng.uniform(0.8, 1.1, size=(len(centres), 1))[order[:, 0]]
    edge = (np.sqrt(nearest[:, 1]) - np.sqrt(nearest[:, 0])) < 2.5
    colour[edge] = (25, 20, 18)
    image = Image.fromarray(np.clip(colour, 0, 255).reshape(SIZE, SIZE, 3).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def swirls(seed: int = 2) -> Image.Image:
    """Short curved brush strokes following a swirling flow field, in night blues and yellows."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (SIZE, SIZE), (24, 40, 92))
    draw = ImageDraw.Draw(image)
    palette = [(30, 60, 140), (60, 100, 180), (110, 150, 210), (240, 210, 80), (250, 240, 170), (20, 30, 70)]
    for _ in range(5000):
        x, y = rng.uniform(0, SIZE, 2)
        colour = palette[rng.integers(0, len(palette))]
        width = int(rng.integers(2, 6))
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 14))):
            angle = np.sin(x / 60.0) * 2.2 + np.cos(y / 45.0) * 2.0
            x, y = x + 4 * np.cos(angle), y + 4 * np.sin(angle)
            points.append((x, y))
        draw.line(points, fill=colour, width=width, joint="curve")
    return image.filter(ImageFilter.SMOOTH)


def waves(seed: int = 3) -> Image.Image:
    """Bands of interfering sine waves in a print-like palette."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    field = np.zeros((SIZE, SIZE))
    for _ in range(4):
        fx, fy, phase = rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0, 6.3)
        field += np.sin(2 * np.pi * (fx * xs + fy * ys) + phase + 1.5 * np.sin(6 * ys))
    bands = np.floor((field - field.min()) / (np.ptp(field) + 1e-9) * 6).astype(int).clip(0, 5)
    palette = np.array([[18, 18, 38], [200, 40, 60], [245, 160, 60], [250, 230, 190], [40, 150, 150], [30, 70, 110]])
    return Image.fromarray(palette[bands].astype(np.uint8))


def copy_photos() -> None:
    import skimage.data

    for name in ("astronaut", "chelsea", "coffee"):
        photo = Image.fromarray(getattr(skimage.data, name)())
        photo.thumbnail((512, 512), Image.LANCZOS)
        photo.save(HERE / f"{name}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", action="store_true", help="copy photos from an installed scikit-image")
    args = parser.parse_args()
    HERE.mkdir(parents=True, exist_ok=True)
    for name, make in (("mosaic", mosaic), ("swirls", swirls), ("waves", waves)):
        make().save(HERE / f"style_{name}.jpg", quality=92)
    if args.photos:
        copy_photos()


if __name__ == "__main__":
    main()
