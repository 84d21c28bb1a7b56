"""Video: feed-forward styles frame by frame, with one set of normalization statistics for the whole clip.

* :mod:`.io`: decoding and encoding with PyAV (FFmpeg's libraries, wheels for every platform).
* :mod:`.stylize`: :class:`VideoSettings` -> :func:`iter_stylize_video` / :func:`stylize_video`
  -> :class:`VideoResult`, and the flicker figure.
"""

from .stylize import VideoProgress, VideoResult, VideoSettings, flicker, iter_stylize_video, stylize_video

__all__ = ["VideoProgress", "VideoResult", "VideoSettings", "flicker", "iter_stylize_video", "stylize_video"]
