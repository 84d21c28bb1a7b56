"""Video: feed-forward styles frame by frame, with one set of normalization statistics for the whole clip.

* :mod:`.io`: decoding and encoding with PyAV (FFmpeg's libraries, wheels for every platform).
* :mod:`.stylize`: :class:`VideoSettings` -> :func:`iter_stylize_video` / :func:`stylize_video`
  -> :class:`VideoResult`, the flicker figure, and :class:`FrameStylizer` (the per-frame work, also the live
  webcam's).
"""

from .stylize import (
    FrameStylizer,
    VideoProgress,
    VideoResult,
    VideoSettings,
    fit_long_side,
    flicker,
    iter_stylize_video,
    stylize_video,
)

__all__ = ["FrameStylizer", "VideoProgress", "VideoResult", "VideoSettings", "fit_long_side", "flicker",
           "iter_stylize_video", "stylize_video"]
