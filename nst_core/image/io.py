"""The one image I/O path: decode anything a user uploads into RGB, convert to and from tensors, save."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..errors import InvalidInput

ImageSource = str | Path | bytes | Image.Image | np.ndarray

# Above this many pixels a photo is shrunk while decoding; the optimizer never needs more.
MAX_DECODE_PIXELS = 4096 * 4096
# Refuse files that claim to be larger than this outright (decompression bombs).
MAX_FILE_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = MAX_FILE_PIXELS
SETTINGS_KEY = "nst-settings"


@dataclass
class LoadedImage:
    image: Image.Image
    notices: list[str] = field(default_factory=list)
    greyscale: bool = False  # stored without colour (one channel), or RGB with equal channels


GREY_TOLERANCE = 2  # levels between channels that still count as grey (JPEG chroma noise)


def is_greyscale(image: Image.Image) -> bool:
    """True for one-channel modes, and for RGB pictures whose channels agree everywhere (within JPEG noise)."""
    if image.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
        return True
    if image.mode == "P":
        image = image.convert("RGB")
    if image.mode not in ("RGB", "RGBA"):
        return False
    thumb = image.convert("RGB")
    thumb.thumbnail((256, 256))
    pixels = np.asarray(thumb, dtype=np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    return int(spread.max()) <= GREY_TOLERANCE


def load_image(source: ImageSource, *, label: str = "image", max_pixels: int = MAX_DECODE_PIXELS) -> LoadedImage:
    """Decode ``source`` to an 8-bit RGB image, upright per EXIF, at most ``max_pixels`` large."""
    notices: list[str] = []
    image = _drafted(_open(source, label), label, max_pixels)
    try:
        if isinstance(source, Image.Image):
            image = ImageOps.exif_transpose(image)  # a copy: the caller's picture stays as it was
        else:
            ImageOps.exif_transpose(image, in_place=True)  # a picture of our own: no copy of many megapixels
        original = image.size
        if image.width * image.height > max_pixels:
            image = _shrunk(image, max_pixels)
            notices.append(f"The {label} ({original[0]}x{original[1]}) was downscaled to {image.width}x{image.height}.")
        greyscale = is_greyscale(image)
        image = _to_rgb(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"The {label} could not be decoded ({exc}); is the file complete?") from exc
    return LoadedImage(image, notices, greyscale)


def load_alpha(source: ImageSource, *, label: str = "layer", max_pixels: int = MAX_DECODE_PIXELS) -> Image.Image | None:
    """The opacity of a painted layer as an "L" image, at most ``max_pixels`` large; None for a picture without
    an alpha channel (or transparency), which paints nothing."""
    image = _drafted(_open(source, label), label, max_pixels)
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return None
    try:
        alpha = (image if image.mode in ("RGBA", "LA") else image.convert("RGBA")).getchannel("A")
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"The {label} could not be decoded ({exc}); is the file complete?") from exc
    return _shrunk(alpha, max_pixels) if alpha.width * alpha.height > max_pixels else alpha


def read_megapixels(source: ImageSource, *, label: str = "image",
                    max_pixels: int = MAX_DECODE_PIXELS) -> tuple[float, float]:
    """(megapixels stored, megapixels decoded) of reading ``source`` with :func:`load_image`, from its header
    alone: a JPEG decodes at the scale it is drafted to, any other picture whole."""
    image = _open(source, label)
    stored = image.width * image.height / 1e6
    image = _drafted(image, label, max_pixels)
    return stored, image.width * image.height / 1e6


def _drafted(image: Image.Image, label: str, max_pixels: int) -> Image.Image:
    """``image`` as opened (its header read, nothing decoded), a JPEG set to decode no larger than it must."""
    if image.width < 1 or image.height < 1:
        raise InvalidInput(f"The {label} has no pixels.")
    if image.width * image.height > max_pixels:
        # JPEG can decode at 1/2, 1/4, 1/8 scale directly: a 50 MP photo never fills memory at full size.
        scale = math.sqrt(max_pixels / (image.width * image.height))
        image.draft("RGB", (int(image.width * scale) + 1, int(image.height * scale) + 1))
    return image


def _shrunk(image: Image.Image, max_pixels: int) -> Image.Image:
    """``image`` scaled to ``max_pixels``: first by a box filter of a whole factor, then by Lanczos. Lanczos
    alone spends a second on every 100 MP (a PNG has no draft), and the grey check and the conversion to RGB
    after it would each walk the full picture again."""
    scale = math.sqrt(max_pixels / (image.width * image.height))
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    if image.mode not in ("L", "LA", "RGB", "RGBA"):  # the modes Pillow reduces and resizes as they are
        image = _to_rgb(image)
    if int(1 / scale) > 1:
        image = image.reduce(int(1 / scale))
    return image.resize(size, Image.LANCZOS)


def image_size(source: ImageSource, *, label: str = "image") -> tuple[int, int]:
    """(width, height) from the file's header alone: nothing is decoded, whatever size it claims."""
    if isinstance(source, Image.Image):
        return source.size
    if isinstance(source, np.ndarray):
        return (source.shape[1], source.shape[0]) if source.ndim >= 2 else (0, 0)
    return _open(source, label).size


def _open(source: ImageSource, label: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, label)
    if source is None or (isinstance(source, (str, bytes)) and len(source) == 0):
        raise InvalidInput(f"No {label} was given.")
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InvalidInput(f"The {label} file {Path(source).name!r} does not exist.")
    if isinstance(source, (str, Path)) and Path(source).stat().st_size == 0:
        raise InvalidInput(f"The {label} file {Path(source).name!r} is empty.")
    try:
        # Decoding is lazy: a large JPEG can still be drafted at reduced size before its pixels load.
        return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as exc:
        raise too_large_to_open(label) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(f"The {label} is not an image that can be read (PNG, JPEG, WebP, ...).") from exc


def too_large_to_open(label: str) -> InvalidInput:
    """The refusal of a picture Pillow will not open: above twice :data:`MAX_FILE_PIXELS` (below that it only
    warns, and budgets refuse at the size its header claims)."""
    return InvalidInput(f"The {label} is too large to open: its header claims more than "
                        f"{2 * MAX_FILE_PIXELS / 1e6:g} megapixels.")


def _from_array(array: np.ndarray, label: str) -> Image.Image:
    if array.ndim not in (2, 3) or array.size == 0:
        raise InvalidInput(f"The {label} array has shape {array.shape}; expected HxW or HxWxC.")
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        peak = 1.0 if np.nanmax(array) <= 1.0 else (255.0 if np.nanmax(array) <= 255 else 65535.0)
        array = np.clip(np.nan_to_num(array) / peak * 255.0, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale to 8 bits instead of clipping at 255.
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # Transparent areas become white, as they look in a browser on a white page.
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def fitted_size(width: int, height: int, long_side: int, min_short_side: int = 1, *,
                enlarge: bool = True) -> tuple[int, int]:
    """(width, height) scaled so the longer side is ``long_side`` (or the shorter one ``min_short_side``), keeping
    the aspect; with ``enlarge=False`` never larger than it is."""
    scale = max(long_side / max(width, height), min_short_side / min(width, height))
    scale = scale if enlarge else min(1.0, scale)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_long_side(image: Image.Image, long_side: int, min_short_side: int = 1) -> Image.Image:
    """The picture resized to :func:`fitted_size`."""
    size = fitted_size(image.width, image.height, long_side, min_short_side)
    return image if size == image.size else image.resize(size, Image.LANCZOS)


def array_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> float tensor (1, 3, H, W) in [0, 1]: the one pixel -> tensor conversion."""
    array = np.array(rgb, dtype=np.float32) / 255.0  # a copy: decoded pictures are often read-only
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_array(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor (1, 3, H, W) or (3, H, W) in [0, 1] -> (H, W, 3) uint8: the one tensor -> pixel conversion."""
    return (tensor.detach().float().squeeze(0).clamp(0, 1).permute(1, 2, 0) * 255.0).round().byte().cpu().numpy()


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (1, 3, H, W) in [0, 1]."""
    return array_to_tensor(np.asarray(image.convert("RGB")))


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (1, 3, H, W) or (3, H, W) in [0, 1] -> RGB PIL image."""
    return Image.fromarray(tensor_to_array(tensor))


def resize_tensor(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (1, C, H, W) tensor to ``size`` = (H, W) with antialiasing when shrinking."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=size, mode="bicubic", align_corners=False, antialias=True)


def save_png(image: Image.Image, path: str | Path, settings: dict | None = None) -> Path:
    """Save as PNG with ``settings`` as JSON in a text chunk, so a result can be reproduced."""
    info = PngImagePlugin.PngInfo()
    if settings is not None:
        info.add_text(SETTINGS_KEY, json.dumps(settings, sort_keys=True, default=str))
    image.save(path, format="PNG", pnginfo=info)
    return Path(path)


def read_png_settings(path: str | Path) -> dict | None:
    """The settings a result PNG was made with, or None; :class:`InvalidInput` for a file that is no image or
    whose settings are not readable. Read from the chunks before the pixels (where :func:`save_png` puts them):
    nothing is decoded, whatever size the picture claims."""
    try:
        with Image.open(path) as image:
            text = image.info.get(SETTINGS_KEY)
        settings = json.loads(text) if isinstance(text, str) else None
    except (OSError, ValueError) as exc:  # not an image, a truncated one, or settings that are not JSON
        raise InvalidInput(f"No readable settings in {Path(path).name} ({type(exc).__name__}).") from exc
    if settings is not None and not isinstance(settings, dict):
        raise InvalidInput(f"No readable settings in {Path(path).name} (not a record of settings).")
    return settings
