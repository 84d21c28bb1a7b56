"""Feed-forward style networks (Johnson et al. 2016, with instance normalization): one pass per image.

* :mod:`.network`: :class:`TransformerNet`, whose instance norms take statistics as arguments.
* :mod:`.model`: :class:`FastStyle` (what a network expects of its pixels), :class:`FastModel`, the transforms.
* :mod:`.catalogue`: the pretrained styles and user models, loaded safely into a :class:`FastModel`.
* :mod:`.check`: the health check that settles a catalogue file's value range and colour order.
* :mod:`.run`: :class:`FastSettings` -> :func:`iter_stylize_fast` / :func:`stylize_fast` -> :class:`FastResult`.
"""

from .catalogue import (
    CANDIDATES,
    CATALOGUE,
    FAST_ARCHITECTURE,
    load_by_module_names,
    load_catalogue_style,
    load_fast_model,
    load_hub_model,
    load_user_model,
    save_fast_model,
)
from .check import fast_style_check
from .model import FastModel, FastStyle
from .network import TransformerNet
from .run import (
    MAX_FAST_SIDE,
    MIN_FAST_SIDE,
    TILE_PIXELS,
    Compiler,
    FastProgress,
    FastResult,
    FastSettings,
    iter_stylize_fast,
    stylize_fast,
    warm_up,
    warm_up_models,
)

__all__ = ["CANDIDATES", "CATALOGUE", "FAST_ARCHITECTURE", "MAX_FAST_SIDE", "MIN_FAST_SIDE", "TILE_PIXELS", "Compiler",
           "FastModel", "FastProgress", "FastResult", "FastSettings", "FastStyle", "TransformerNet", "fast_style_check",
           "iter_stylize_fast", "load_by_module_names", "load_catalogue_style", "load_fast_model", "load_hub_model",
           "load_user_model", "save_fast_model", "stylize_fast", "warm_up", "warm_up_models"]
