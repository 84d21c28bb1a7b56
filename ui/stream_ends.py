"""A live stream whose visitor has gone gives its slot back at once, not at its time limit.

Gradio 6.31 runs a streaming event (the webcam) in a queue slot for its whole run: between frames it waits there
for the next one, up to the stream's time limit. When the visitor's page goes (a closed tab, a lost connection),
``Queue.clean_events`` marks the session's running events dead but leaves a stream waiting for a frame that
will never come: its slot stayed taken for the rest of the five minutes. Here the same clean-up also closes
such a stream, as the page's own Stop does (``/stream/<event>/close``).
"""

from __future__ import annotations

import functools

from gradio.queueing import Queue

_MARK = "_nst_ends_streams"


def end_streams_of_leaving_visitors() -> None:
    """Make ``Queue.clean_events`` close the streams it finds running for the session or event it cleans."""
    original = Queue.clean_events
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    async def clean_events(self: Queue, *, session_hash: str | None = None, event_id: str | None = None) -> None:
        for job_set in self.active_jobs:
            for job in job_set or ():
                ours = (session_hash is not None and job.session_hash == session_hash) or \
                    (event_id is not None and job._id == event_id)
                if ours and job.streaming:
                    job.closed = True
                    job.signal.set()  # wakes the wait for the next frame; the stream then ends as finished
        await original(self, session_hash=session_hash, event_id=event_id)

    setattr(clean_events, _MARK, True)
    Queue.clean_events = clean_events
