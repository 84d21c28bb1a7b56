"""The one audio I/O path: decode any common format to mono float32 at the rate a backend needs, save wav."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from ..errors import InvalidInput

AudioSource = str | Path | bytes | tuple[int, np.ndarray]

SILENCE_PEAK = 1e-4           # below this peak amplitude a clip is treated as silent
CLIPPED_FRACTION = 0.01        # more samples than this at full scale: the recording clipped
TARGET_PEAK = 0.9


@dataclass
class LoadedAudio:
    samples: np.ndarray        # mono float32, peak-normalized to TARGET_PEAK
    sample_rate: int
    notices: list[str] = field(default_factory=list)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """The one resampler: librosa's, with the SoX high-quality filter (soxr)."""
    import librosa

    return librosa.resample(np.asarray(samples, dtype=np.float32), orig_sr=rate, target_sr=target_rate,
                            res_type="soxr_hq")


def load_audio(source: AudioSource, *, sample_rate: int, label: str = "clip", max_seconds: float | None = None,
               min_seconds: float = 0.0) -> LoadedAudio:
    """Decode ``source`` (a path, bytes, or Gradio's ``(rate, array)``) to mono ``sample_rate`` float32."""
    notices: list[str] = []
    data, rate = _decode(source, label)
    if data.size == 0:
        raise InvalidInput(f"The {label} is empty.")
    if not np.all(np.isfinite(data)):
        raise InvalidInput(f"The {label} contains invalid samples (NaN or infinity).")
    if data.ndim == 2:
        data = data.mean(axis=1)
    if max_seconds is not None and len(data) > max_seconds * rate:
        notices.append(f"The {label} ({len(data) / rate:.1f} s) was trimmed to {max_seconds:g} s.")
        data = data[: int(max_seconds * rate)]
    peak = float(np.abs(data).max())
    if peak < SILENCE_PEAK:
        raise InvalidInput(f"The {label} is silent.")
    if np.mean(np.abs(data) >= 0.999 * max(peak, 1.0)) > CLIPPED_FRACTION:
        notices.append(f"The {label} is clipped (distorted at full scale); the result will keep that harshness.")
    if rate != sample_rate:
        data = resample(data, int(rate), sample_rate)
    if len(data) < min_seconds * sample_rate:
        raise InvalidInput(f"The {label} is {len(data) / sample_rate:.2f} s long; this backend needs at least "
                           f"{min_seconds:g} s.")
    data = data / max(float(np.abs(data).max()), SILENCE_PEAK) * TARGET_PEAK
    return LoadedAudio(data.astype(np.float32), sample_rate, notices)


def _decode(source: AudioSource, label: str) -> tuple[np.ndarray, int]:
    if isinstance(source, tuple):
        rate, array = source
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.integer):
            array = array.astype(np.float64) / np.iinfo(array.dtype).max
        return array.astype(np.float64), int(rate)
    if source is None or (isinstance(source, (str, bytes)) and len(source) == 0):
        raise InvalidInput(f"No {label} was given.")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"The {label} file {path.name!r} does not exist.")
        if path.stat().st_size == 0:
            raise InvalidInput(f"The {label} file {path.name!r} is empty.")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        data, rate = soundfile.read(handle, dtype="float64", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The {label} is not audio that can be read (wav, flac, ogg, mp3).") from exc
    return data, int(rate)


def audio_seconds(source: AudioSource, *, label: str = "clip") -> float:
    """A clip's length from its header (a file) or its array, without decoding the samples."""
    if isinstance(source, tuple):
        rate, array = source
        return len(np.asarray(array)) / max(int(rate), 1)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InvalidInput(f"The {label} file {Path(source).name!r} does not exist.")
    try:
        info = soundfile.info(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The {label} is not audio that can be read (wav, flac, ogg, mp3).") from exc
    return float(info.frames) / max(int(info.samplerate), 1)


def save_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    soundfile.write(str(path), np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate, subtype="PCM_16")
    return Path(path)
