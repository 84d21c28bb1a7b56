"""nst_core: the style transfer engine behind the studio app. Importable without Gradio."""

from .audio.optimize import AudioProgress, AudioResult, AudioSettings, iter_stylize_audio, stylize_audio
from .errors import InvalidInput, NSTError, WeightsMismatch, WeightsUnavailable
from .image.fast import FastModel, FastResult, FastStyle, stylize_fast
from .image.optimize import ImageProgress, ImageResult, ImageSettings, iter_stylize_image, stylize_image

__version__ = "0.1.0"

__all__ = [
    "AudioProgress",
    "AudioResult",
    "AudioSettings",
    "FastModel",
    "FastResult",
    "FastStyle",
    "stylize_fast",
    "ImageProgress",
    "ImageSettings",
    "InvalidInput",
    "NSTError",
    "ImageResult",
    "WeightsMismatch",
    "WeightsUnavailable",
    "iter_stylize_image",
    "iter_stylize_audio",
    "stylize_audio",
    "stylize_image",
]
