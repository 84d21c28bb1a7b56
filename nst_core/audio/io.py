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
BLOCK_FRAMES = 2**18           # frames decoded at a time (8 channels of float64: 16 MB)
MAX_SAMPLE_RATE = 192_000      # studio recordings go this high; FLAC allows 655 kHz (30 s of it: 7 s to resample)


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
    data, rate, length = _decode(source, label, max_seconds)
    if data.size == 0:
        raise InvalidInput(f"The {label} is empty.")
    if not np.all(np.isfinite(data)):
        raise InvalidInput(f"The {label} contains invalid samples (NaN or infinity).")
    if data.ndim == 2:
        data = data.mean(axis=1)
    if max_seconds is not None and length > max_seconds * rate:
        notices.append(f"The {label} ({length / rate:.1f} s) was trimmed to {max_seconds:g} s.")
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


def _decode(source: AudioSource, label: str, max_seconds: float | None) -> tuple[np.ndarray, int, int]:
    """(samples, rate, the clip's whole length in samples): of a file, its first ``max_seconds`` only. Decoded
    whole, a 1.9 MB FLAC of three hours (near silence compresses to nothing) took 32 s and 11 GB."""
    if isinstance(source, tuple):
        rate, array = source
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.integer):
            array = array.astype(np.float64) / np.iinfo(array.dtype).max
        return array.astype(np.float64), int(rate), len(array)
    if source is None or (isinstance(source, (str, bytes)) and len(source) == 0):
        raise InvalidInput(f"No {label} was given.")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"The {label} file {path.name!r} does not exist.")
        if path.stat().st_size == 0:
            raise InvalidInput(f"The {label} file {path.name!r} is empty.")
    try:
        clip = soundfile.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The {label} is not audio that can be read (wav, flac, ogg, mp3).") from exc
    with clip:
        readable_rate(clip.samplerate, label)
        wanted = -1 if max_seconds is None else min(clip.frames, int(max_seconds * clip.samplerate))
        # Mixed down block by block: FLAC allows 8 channels at 655 kHz, 1.3 GB for 30 s decoded at once.
        try:
            blocks = [block.mean(axis=1) if block.ndim == 2 else block
                      for block in clip.blocks(BLOCK_FRAMES, frames=wanted, dtype="float64", always_2d=False)]
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise InvalidInput(f"The {label} is not audio that can be read (wav, flac, ogg, mp3).") from exc
        return (np.concatenate(blocks) if blocks else np.zeros(0)), int(clip.samplerate), clip.frames


def readable_rate(rate: int, label: str) -> int:
    """``rate``, refused above :data:`MAX_SAMPLE_RATE` (what the clip's header says, before any decoding)."""
    if rate > MAX_SAMPLE_RATE:
        raise InvalidInput(f"The {label}'s sample rate is {rate} Hz; this server reads audio of up to "
                           f"{MAX_SAMPLE_RATE // 1000} kHz.")
    return rate


def audio_seconds(source: AudioSource, *, label: str = "clip") -> float:
    """A clip's length from its header (a file) or its array, without decoding the samples; a clip with none is
    refused as :func:`load_audio` refuses it."""
    if isinstance(source, tuple):
        rate, array = source
        frames, rate = len(np.asarray(array)), int(rate)
    else:
        if isinstance(source, (str, Path)) and not Path(source).is_file():
            raise InvalidInput(f"The {label} file {Path(source).name!r} does not exist.")
        try:
            info = soundfile.info(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise InvalidInput(f"The {label} is not audio that can be read (wav, flac, ogg, mp3).") from exc
        frames, rate = info.frames, readable_rate(int(info.samplerate), label)
    if frames == 0:
        raise InvalidInput(f"The {label} is empty.")
    return float(frames) / max(rate, 1)


def save_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    soundfile.write(str(path), np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate, subtype="PCM_16")
    return Path(path)
