"""Video: feed-forward styles frame by frame, with one set of normalization statistics for the whole clip.

* :mod:`.io`: decoding and encoding with PyAV (FFmpeg's libraries, wheels for every platform).
* :mod:`.stylize`: :class:`VideoSettings` -> :func:`iter_stylize_video` / :func:`stylize_video`
  -> :class:`VideoResult` (with its flicker figure), and :class:`FrameStylizer` (the per-frame work, also the
  live webcam's, whose knobs are :class:`LiveSettings`).
"""

from .stylize import (
    FrameStylizer,
    LiveSettings,
    VideoProgress,
    VideoResult,
    VideoSettings,
    iter_stylize_video,
    stylize_video,
)

__all__ = ["FrameStylizer", "LiveSettings", "VideoProgress", "VideoResult", "VideoSettings", "iter_stylize_video",
           "stylize_video"]
