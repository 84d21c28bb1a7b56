"""What a visitor may leave in the server's memory through Gradio's upload progress: bounded.

The page shows an upload's progress by naming it (``upload_id``, about 11 characters) both in the upload and in
an event stream, ``/gradio_api/upload_progress``. Gradio 6.31 keeps a tracker and an asyncio event for every id
either request names, and never forgets the event: a stream asking for an id that no upload sent left its event
and its id behind after a 3 s wait (1000 such requests with 60 kB ids held 58 MB more), and an upload whose id
no stream followed to its end left its tracker. The request limits refuse an id that is not :data:`UPLOAD_ID`;
:func:`bound_upload_progress` forgets an id when its stream ends or its wait runs out, and every id after
:data:`KEPT_S`, :data:`TRACKED` at most, the oldest first (installed by :mod:`.endpoint`).
"""

from __future__ import annotations

import re
import time

from gradio.route_utils import FileUploadProgress

ID_CHARACTERS = 64  # the page makes ids of about 11 letters and digits
UPLOAD_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{ID_CHARACTERS}}}")
KEPT_S = 1800.0   # the largest upload on a slow line
TRACKED = 10_000  # uploads being watched at once, of every visitor
_track, _is_tracked, _stop_tracking = (FileUploadProgress.track, FileUploadProgress.is_tracked,
                                       FileUploadProgress.stop_tracking)


def _forget(tracker: FileUploadProgress, upload_id: str) -> None:
    tracker._statuses.pop(upload_id, None)
    tracker._signals.pop(upload_id, None)
    tracker.__dict__.setdefault("_since", {}).pop(upload_id, None)


def track(self: FileUploadProgress, upload_id: str) -> None:
    """Gradio's, then the ids older than :data:`KEPT_S` or past :data:`TRACKED` forgotten (an upload whose
    progress is forgotten goes on; only its progress bar stops)."""
    _track(self, upload_id)
    since: dict[str, float] = self.__dict__.setdefault("_since", {})  # in the order first tracked
    now = time.monotonic()
    since.setdefault(upload_id, now)
    while since and (len(since) > TRACKED or now - next(iter(since.values())) > KEPT_S):
        _forget(self, next(iter(since)))


async def is_tracked(self: FileUploadProgress, upload_id: str) -> bool:
    try:
        return await _is_tracked(self, upload_id)
    finally:  # the wait ran out, or the stream left, before any upload named the id: nothing of it is kept
        if upload_id not in self._statuses:
            self._signals.pop(upload_id, None)


def stop_tracking(self: FileUploadProgress, upload_id: str) -> None:
    _stop_tracking(self, upload_id)
    _forget(self, upload_id)


def bound_upload_progress() -> None:
    """Install all three (idempotent: they always wrap Gradio's own methods)."""
    FileUploadProgress.track = track
    FileUploadProgress.is_tracked = is_tracked
    FileUploadProgress.stop_tracking = stop_tracking
