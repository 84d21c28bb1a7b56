"""nst_core: the style transfer engine behind the studio app. Importable without Gradio.

One shape per modality: a settings dataclass, ``iter_stylize_*`` (progress events, then the result) and
``stylize_*`` (the result, progress through a callback), a result dataclass.

* image optimization: :class:`ImageSettings` -> :func:`iter_stylize_image` / :func:`stylize_image`
  -> :class:`ImageResult`
* fast styles: :class:`FastSettings` and a :class:`FastModel` -> :func:`iter_stylize_fast` / :func:`stylize_fast`
  -> :class:`FastResult`
* video: :class:`VideoSettings` (a :class:`FastSettings`) and a :class:`FastModel` -> :func:`iter_stylize_video` /
  :func:`stylize_video` -> :class:`VideoResult`
* audio: :class:`AudioSettings` -> :func:`iter_stylize_audio` / :func:`stylize_audio` -> :class:`AudioResult`

Every progress event is a :class:`Progress` (``done`` of ``total``) and every result a :class:`Result`
(``seconds``, ``runtime``, ``settings``, ``notices`` and ``facts``). Each settings field is declared once
(:mod:`nst_core.options`): the command line, the app's widgets and its client API are made from it.

Errors leave the engine as :class:`NSTError` subclasses only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each public name and the module that defines it. A name is imported on first use (PEP 562), so that
# ``import nst_core.image.fast`` or ``nst image`` does not load the audio stack (librosa) and the other way round.
_HOME = {
    **dict.fromkeys(("AudioProgress", "AudioResult", "AudioSettings", "iter_stylize_audio", "stylize_audio"),
                    ".audio.optimize"),
    **dict.fromkeys(("InvalidInput", "NSTError", "WeightsMismatch", "WeightsUnavailable"), ".errors"),
    **dict.fromkeys(("Progress", "Result"), ".events"),
    **dict.fromkeys(("FastModel", "FastProgress", "FastResult", "FastSettings", "FastStyle", "iter_stylize_fast",
                     "stylize_fast"), ".image.fast"),
    **dict.fromkeys(("ImageProgress", "ImageResult", "ImageSettings", "iter_stylize_image", "stylize_image"),
                    ".image.optimize"),
    **dict.fromkeys(("LiveSettings", "VideoProgress", "VideoResult", "VideoSettings", "iter_stylize_video",
                     "stylize_video"), ".video"),
}

if TYPE_CHECKING:
    from .audio.optimize import AudioProgress, AudioResult, AudioSettings, iter_stylize_audio, stylize_audio
    from .errors import InvalidInput, NSTError, WeightsMismatch, WeightsUnavailable
    from .events import Progress, Result
    from .image.fast import (
        FastModel,
        FastProgress,
        FastResult,
        FastSettings,
        FastStyle,
        iter_stylize_fast,
        stylize_fast,
    )
    from .image.optimize import ImageProgress, ImageResult, ImageSettings, iter_stylize_image, stylize_image
    from .video import LiveSettings, VideoProgress, VideoResult, VideoSettings, iter_stylize_video, stylize_video

__version__ = "0.1.0"

__all__ = [
    "AudioProgress",
    "AudioResult",
    "AudioSettings",
    "FastModel",
    "FastProgress",
    "FastResult",
    "FastSettings",
    "FastStyle",
    "ImageProgress",
    "ImageResult",
    "ImageSettings",
    "InvalidInput",
    "LiveSettings",
    "NSTError",
    "Progress",
    "Result",
    "VideoProgress",
    "VideoResult",
    "VideoSettings",
    "WeightsMismatch",
    "WeightsUnavailable",
    "iter_stylize_audio",
    "iter_stylize_fast",
    "iter_stylize_image",
    "iter_stylize_video",
    "stylize_audio",
    "stylize_fast",
    "stylize_image",
    "stylize_video",
]


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name], __name__), name)
    globals()[name] = value  # the next lookup is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
