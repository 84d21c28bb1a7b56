"""One-pass styles as :class:`~nst_core.image.fast.FastModel` s: any picture (Magenta's arbitrary stylization) and
the 26-style network, each a conditional network with its condition, run by the feed-forward path.

* :func:`any_picture_model`: each style picture -> its style vector (the predictor sees the picture with its short
  side at 256 px, as the TF Lite guide feeds it, without cropping); several pictures blend by a weighted average of
  their vectors; the style strength interpolates between the photo's own vector and the style's (Ghiasi et al.
  2017; Magenta's ``arbitrary_image_stylization_with_weights``).
* :func:`multistyle_model`: weights over the 26 styles, normalized to sum to 1 as the TensorFlow demo does; the
  style strength mixes with the photo, as for every other feed-forward style.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ...errors import InvalidInput, shown
from ...options import real, whole
from ...runtime import PreparedModels, freeze, pick_runtime, seeded
from ..fast.model import FastModel, FastStyle
from ..io import ImageSource, image_size, load_image, to_tensor
from .catalogue import STYLE_COUNT, load_network
from .networks import ARBITRARY, ConditionalTransformer
from .networks import MULTISTYLE as MULTISTYLE_SHAPE

STYLE_SIDE = 256         # the predictor's input (short side), as the published model is fed
MAX_STYLE_ASPECT = 4     # a longer picture is centre-cropped to 4:1 first
MIN_STYLE_SIDE = 16
MAX_STYLE_PICTURES = 8
ANY_PICTURE = FastStyle("onepass-transformer", "Any picture", "", value_range=1, channel_order="rgb",
                        note="Magenta's arbitrary stylization (Ghiasi et al. 2017)")
MULTISTYLE = FastStyle("onepass-multistyle26", "26 styles", "", value_range=1, channel_order="rgb",
                       note="Dumoulin et al. 2017, from the TensorFlow Android demo")

_vectors: OrderedDict[str, torch.Tensor] = OrderedDict()  # picture digest -> its style vector (the last 64)
_PREPARED = PreparedModels()  # the predictor laid out for the runtime (bf16 + channels_last where that is fast)
_vectors_lock = threading.Lock()


def predictor_input(picture: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1], any size -> the predictor's input: short side 256 px, at most 4:1."""
    height, width = picture.shape[-2:]
    if max(height, width) > MAX_STYLE_ASPECT * min(height, width):
        keep_h, keep_w = min(height, MAX_STYLE_ASPECT * width), min(width, MAX_STYLE_ASPECT * height)
        top, left = (height - keep_h) // 2, (width - keep_w) // 2
        picture = picture[..., top:top + keep_h, left:left + keep_w]
        height, width = keep_h, keep_w
    scale = STYLE_SIDE / min(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(picture.float(), size=size, mode="bilinear", antialias=True, align_corners=False)


def vector_of(picture: torch.Tensor) -> torch.Tensor:
    """The style vector (1, 100) of a picture, RGB in [0, 1]; recent ones are remembered, so a stream of frames
    or a repeated request does not run the predictor again."""
    x = predictor_input(picture)
    digest = hashlib.sha1(x.numpy().tobytes()).hexdigest()
    with _vectors_lock:
        if digest in _vectors:
            _vectors.move_to_end(digest)
            return _vectors[digest]
    runtime = pick_runtime()
    net = runtime.prepare_model(load_network("onepass-predictor"), _PREPARED)
    with torch.inference_mode(), runtime.autocast():
        vector = net(runtime.prepare_input(x)).float().cpu()
    with _vectors_lock:
        _vectors[digest] = vector
        while len(_vectors) > 64:
            _vectors.popitem(last=False)
    return vector


def style_picture(source: ImageSource) -> torch.Tensor:
    """A style picture, decoded and brought near the predictor's size by Pillow (cheaper than resizing a large
    picture as a tensor); :func:`predictor_input` makes the exact size."""
    return to_tensor(load_image(source, label="style image", max_pixels=style_pixels(source)).image)


def style_pixels(source: ImageSource) -> int:
    """How many pixels a style picture is read at, from its header: its short side at most twice the predictor's
    (refused below :data:`MIN_STYLE_SIDE`)."""
    width, height = image_size(source, label="style image")
    if min(width, height) < MIN_STYLE_SIDE:
        raise InvalidInput(f"A style image is {width}x{height} pixels; give one at least {MIN_STYLE_SIDE} pixels "
                           "a side.")
    return math.ceil(width * height * min(1.0, 2 * STYLE_SIDE / min(width, height)) ** 2)


def blend_weights(weights: Sequence[object] | None, count: int) -> list[float]:
    """One finite, non-negative weight per style picture, not all zero, normalized to sum to 1 (equal if None)."""
    if weights is None or len(weights) == 0:
        return [1.0 / count] * count
    values = [real(w, "style blend weight") for w in weights]
    if len(values) != count:
        raise InvalidInput(f"Give one style blend weight per style image: {count} images, {len(values)} weights.")
    if min(values) < 0 or sum(values) <= 0:
        raise InvalidInput("Style blend weights must be non-negative and not all zero.")
    return [v / sum(values) for v in values]


def check_style_count(count: int) -> None:
    if not 1 <= count <= MAX_STYLE_PICTURES:
        raise InvalidInput(f"Give between 1 and {MAX_STYLE_PICTURES} style images (got {count}).")


def any_picture_model(styles: Sequence[ImageSource], weights: Sequence[object] | None = None) -> FastModel:
    """Any picture(s) as the style: the transformer conditioned on their (weighted) average style vector."""
    check_style_count(len(styles))
    shares = blend_weights(weights, len(styles))
    vector = sum(share * vector_of(style_picture(s)) for share, s in zip(shares, styles))
    title = "Any picture" if len(styles) == 1 else f"Any picture ({len(styles)} blended)"
    return FastModel(load_network("onepass-transformer"), _titled(ANY_PICTURE, title), vector, identity=vector_of)


_MIX_PART = re.compile(r"^\s*(?:style\s*)?([^:\s]+)\s*(?::\s*(\S+))?\s*$", re.IGNORECASE)


def parse_mix(mix: object) -> torch.Tensor:
    """Weights over the 26 styles (1, 26), summing to 1: from an index (``7``), a text (``"7"``, ``"style 7"``,
    ``"3:0.5, 12:0.5"``), a mapping {index: weight} or 26 numbers. Indices run 0-25, as the demo's thumbnails."""
    weights = torch.zeros(STYLE_COUNT, dtype=torch.float64)
    if isinstance(mix, Mapping):
        pairs = list(mix.items())
    elif isinstance(mix, str):
        pairs = []
        for part in (p for p in mix.replace(";", ",").split(",") if p.strip()):
            match = _MIX_PART.match(part)
            if not match:
                raise InvalidInput(f"Cannot read the style mix part {shown(part)}; write e.g. 7 or 3:0.5, 12:0.5.")
            pairs.append((match.group(1), match.group(2) if match.group(2) is not None else 1.0))
    elif isinstance(mix, Sequence) and len(mix) == STYLE_COUNT:
        pairs = list(enumerate(mix))
    else:
        pairs = [(mix, 1.0)]
    for index, weight in pairs:
        position = whole(index, "style mix index")
        if not 0 <= position < STYLE_COUNT:
            raise InvalidInput(f"Style mix indices run from 0 to {STYLE_COUNT - 1} (got {position}).")
        weights[position] += real(weight, "style mix weight")
    if (weights < 0).any() or weights.sum() <= 0 or not math.isfinite(float(weights.sum())):
        raise InvalidInput("Style mix weights must be non-negative and not all zero.")
    return (weights / weights.sum()).float()[None]


def mix_label(weights: torch.Tensor) -> str:
    parts = [(i, w) for i, w in enumerate(weights[0].tolist()) if w > 0]
    if len(parts) == 1:
        return f"26 styles: style {parts[0][0]}"
    return "26 styles: " + ", ".join(f"{i}:{w:.2g}" for i, w in parts)


def multistyle_model(mix: object) -> FastModel:
    """The 26-style network conditioned on a mix of its styles (see :func:`parse_mix`)."""
    weights = parse_mix(mix)
    return FastModel(load_network("onepass-multistyle26"), _titled(MULTISTYLE, mix_label(weights)), weights)


def _titled(style: FastStyle, title: str) -> FastStyle:
    return dataclasses.replace(style, title=title)


def warm_up_models() -> list[FastModel]:
    """Both conditional transformers with random weights and conditions, for :func:`~nst_core.image.fast.warm_up`:
    their compiled graphs serve the real networks (weights and conditions are graph inputs)."""
    models = []
    for shape, style in ((ARBITRARY, ANY_PICTURE), (MULTISTYLE_SHAPE, MULTISTYLE)):
        with seeded(0):
            net = freeze(ConditionalTransformer(shape))
        models.append(FastModel(net, style, torch.rand(1, shape.condition_size)))
    return models
