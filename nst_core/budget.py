"""What one request may cost on a shared server, in one place: memory, seconds, pixels, sound, network width.

The defaults keep a public app well inside a free Hugging Face CPU Space (16 GB, 2 vCPU) shared by strangers.
Each limit is an environment variable (``NST_BUDGET_<FIELD>``, e.g. ``NST_BUDGET_MEMORY_GB=40``), so whoever runs
``python app.py`` on a larger machine can lift them; ``0`` lifts a limit entirely. The app reads
:meth:`Budget.from_env` once, narrows its sliders to it and refuses (or caps) what does not fit.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from .errors import InvalidInput
from .options import real, whole

ENV_PREFIX = "NST_BUDGET_"


class OverBudget(InvalidInput):
    """A request would cost more than this server allows; the message says the limit and what to change."""


@dataclass(frozen=True)
class Budget:
    """Limits per request (and per client). A value of 0 or less means no limit."""

    memory_gb: float = 8.0             # estimated peak memory of one job, on top of the app's own
    seconds: float = 300.0             # estimated running time of one job; a job that runs past it ends there
    image_size: int = 1024             # long side of an optimized image
    image_steps: int = 500             # optimizer steps per scale
    fast_megapixels: float = 4.0       # a Fast styles picture larger than this is scaled down, with a notice
    decode_megapixels: float = 100.0   # an upload claiming more pixels than this is refused before decoding
    video_seconds: float = 20.0        # seconds of a video that are stylized
    video_long_side: int = 1280        # largest long side of a stylized video
    audio_seconds: float = 30.0        # seconds of a clip that are stylized
    audio_steps: int = 500             # audio optimizer steps (at most) per segment
    audio_filters: int = 4096          # filters of the shallow audio net, all layers together
    live_frame_side: int = 512         # long side of a live webcam frame
    live_reading_seconds: float = 2.0  # estimated time to read a live frame and its style pictures (slots are shared)
    jobs_per_client: int = 2           # jobs of one slot one visitor (session or address) may have queued
                                       # or running
    upload_megabytes: float = 1000.0   # what one address may upload per half hour (the time uploads are kept)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Budget:
        """The defaults, with every ``NST_BUDGET_<FIELD>`` in ``environ`` (``os.environ``) applied."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is None or not raw.strip():
                continue
            name = ENV_PREFIX + field.name.upper()
            values[field.name] = whole(raw, name) if field.type in ("int", int) else real(raw, name)
        return cls(**values)

    def limit(self, name: str) -> float | None:
        """The limit called ``name``, or None where it is lifted."""
        value = getattr(self, name)
        return value if value > 0 else None

    def cap(self, name: str, engine_maximum: float) -> float:
        """The smaller of the engine's own maximum and this budget's limit (for slider ranges)."""
        limit = self.limit(name)
        return engine_maximum if limit is None else min(engine_maximum, limit)

    def refuse_over(self, name: str, value: float, what: str, unit: str, advice: str) -> None:
        """:class:`OverBudget` when ``value`` exceeds limit ``name``: '<what> is <value><unit>; this server
        allows <limit><unit>: <advice>.'"""
        limit = self.limit(name)
        if limit is not None and value > limit:
            raise OverBudget(f"{what} is {value:g}{unit}; this server allows {limit:g}{unit}: {advice}.")

    def describe(self) -> str:
        """The limits in one line, for the page and the log."""
        lifted = [f.name for f in dataclasses.fields(self) if self.limit(f.name) is None]
        shown = (f"{self.memory_gb:g} GB and {self.seconds:g} s per job, images up to {self.image_size} px, "
                 f"Fast styles up to {self.fast_megapixels:g} MP, video {self.video_seconds:g} s at up to "
                 f"{self.video_long_side} px, audio {self.audio_seconds:g} s with up to {self.audio_filters} "
                 f"filters, {self.jobs_per_client} jobs per slot and {self.upload_megabytes:g} MB of uploads per "
                 "visitor")
        return shown + (f" (lifted: {', '.join(lifted)})" if lifted else "")
