"""Spectral front ends in torch, differentiable where it matters: STFT/ISTFT, mel filterbanks, Griffin-Lim."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torchaudio

from ..control import checkpoint


@dataclass(frozen=True)
class SpectralFrame:
    """The STFT a backend works on. The optimized quantity is log1p(|STFT|) with these settings."""

    sample_rate: int
    n_fft: int
    hop: int
    win_length: int | None = None

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def window(self) -> torch.Tensor:
        return torch.hann_window(self.win_length or self.n_fft)  # periodic Hann, as librosa and PANNs use

    def stft(self, samples: torch.Tensor) -> torch.Tensor:
        """(N,) waveform -> (bins, frames) complex; centred frames with reflect padding (torchaudio's
        spectrogram transform, in the graph: gradients flow through it)."""
        return torchaudio.functional.spectrogram(samples, 0, self.window(), self.n_fft, self.hop,
                                                 self.win_length or self.n_fft, None, False, center=True,
                                                 pad_mode="reflect", onesided=True)

    def istft(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        return torchaudio.functional.inverse_spectrogram(spectrum, length, 0, self.window(), self.n_fft, self.hop,
                                                         self.win_length or self.n_fft, False, center=True,
                                                         pad_mode="reflect", onesided=True)


def log_magnitude(frame: SpectralFrame, samples: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """log1p |STFT| and the phase (unit complex) of a waveform."""
    spectrum = frame.stft(torch.from_numpy(np.asarray(samples, dtype=np.float32)))
    magnitude = spectrum.abs()
    phase = spectrum / magnitude.clamp_min(1e-8)
    return torch.log1p(magnitude), phase


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float,
                   kind: Literal["slaney", "vggish"]) -> torch.Tensor:
    """(n_mels, bins) triangular filters.

    ``slaney``: librosa's own filterbank (Slaney mel scale, triangles linear in Hz, area-normalized), the one
    PANNs computed its ``melW`` with and the genre CNN uses. ``vggish``: the VGGish reference's (HTK mel
    scale from librosa, triangles linear in *mel*, no normalization, the DC bin excluded); no library
    builds triangles in the mel domain, so that step stays here.
    """
    import librosa

    if kind == "slaney":
        with warnings.catch_warnings():  # the genre CNN's 384 bands leave a few low ones empty, by design
            warnings.filterwarnings("ignore", message="Empty filters detected")
            weights = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                          htk=False, norm="slaney")
        return torch.from_numpy(weights.astype(np.float32))
    bin_mels = librosa.hz_to_mel(np.linspace(0, sample_rate / 2, n_fft // 2 + 1), htk=True)
    edges = np.linspace(librosa.hz_to_mel(fmin, htk=True), librosa.hz_to_mel(fmax, htk=True), n_mels + 2)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    weights = np.maximum(0.0, np.minimum((bin_mels - lower) / (centre - lower), (upper - bin_mels) / (upper - centre)))
    weights[:, 0] = 0.0
    return torch.from_numpy(weights.astype(np.float32))


@dataclass(frozen=True)
class Spectrogram:
    """A log1p|STFT| picture's data: (bins, frames) with the STFT settings that give it axes."""

    log_magnitude: np.ndarray
    frame: SpectralFrame

    @classmethod
    def of(cls, log_mag: torch.Tensor, frame: SpectralFrame) -> Spectrogram:
        return cls(log_mag.detach().float().clamp_min(0).cpu().numpy(), frame)


class SpectralEnvelope:
    """The long-term average spectrum: log of the time-averaged power in mel bands (in nepers).

    This is the first-order side of timbre (a sound's overall "EQ curve"), which Gram matrices of
    random features capture only loosely. Matching the log of the *average* power, rather than the
    average of per-frame logs, moves energy where the signal already is: loud frames change most,
    silences stay silent, so rhythm and onsets survive. ``floor`` is a band power below which bands
    count as silent, so that empty bands neither dominate nor give unbounded gradients.
    """

    def __init__(self, frame: SpectralFrame, bands: int = 64) -> None:
        self.filters = mel_filterbank(frame.sample_rate, frame.n_fft, bands, 0.0, frame.sample_rate / 2, "slaney")

    def band_power(self, log1p_mag: torch.Tensor) -> torch.Tensor:
        """(..., bins, frames) log1p|STFT| -> (..., bands) power averaged over frames."""
        return (self.filters.to(log1p_mag.device) @ torch.expm1(log1p_mag.float()).square()).mean(dim=-1)

    def __call__(self, log1p_mag: torch.Tensor, floor: float) -> torch.Tensor:
        return 0.5 * torch.log(self.band_power(log1p_mag) + floor)


class EnvelopeLoss:
    """Squared distance between a spectrogram's long-term spectrum and the styles' mean one (a style term)."""

    def __init__(self, frame: SpectralFrame, styles: list[torch.Tensor]) -> None:
        self.envelope = SpectralEnvelope(frame)
        # Bands 70 dB below the styles' loudest count as silent.
        self.floor = 1e-7 * max(float(self.envelope.band_power(s).max()) for s in styles)
        self.target = torch.stack([self.envelope(s, self.floor) for s in styles]).mean(0)

    def __call__(self, log1p_mag: torch.Tensor) -> torch.Tensor:
        return (self.envelope(log1p_mag, self.floor) - self.target).pow(2).mean()


def envelope_db(samples: np.ndarray, rate: int, window_s: float = 0.010) -> np.ndarray:
    """RMS level in ``window_s`` windows (half overlapping), in dB relative to the loudest window."""
    hop = max(1, int(window_s * rate / 2))
    padded = np.pad(np.asarray(samples, dtype=np.float64) ** 2, (0, 2 * hop))
    sums = np.convolve(padded, np.ones(2 * hop) / (2 * hop), mode="valid")[: len(samples)][::hop]
    level = 10.0 * np.log10(sums + 1e-20)
    return level - level.max()


def keep_silences(result: np.ndarray, content: np.ndarray, rate: int, *, quiet_db: float = -40.0,
                  fade_db: float = 10.0, headroom_db: float = 6.0, window_s: float = 0.010) -> np.ndarray:
    """Where the content is quiet, hold the result to the content's level (plus ``headroom_db``).

    Levels are short-time RMS in ``window_s`` windows, each relative to its own clip's loudest window; the
    hold fades in below ``quiet_db`` and is complete ``fade_db`` lower. Working on the waveform at 10 ms
    rather than on STFT frames (93 ms for the shallow net) keeps a pause's edges where the content has them.
    """
    content_level, result_level = envelope_db(content, rate, window_s), envelope_db(result, rate, window_s)
    count = min(len(content_level), len(result_level))
    content_level, result_level = content_level[:count], result_level[:count]
    excess = np.maximum(result_level - (content_level + headroom_db), 0.0)
    weight = np.clip((quiet_db - content_level) / fade_db, 0.0, 1.0)
    gain = 10.0 ** (-(excess * weight) / 20.0)
    hop = len(result) / count
    return (result * np.interp(np.arange(len(result)), (np.arange(count) + 0.5) * hop, gain)).astype(result.dtype)


def griffin_lim(magnitude: torch.Tensor, frame: SpectralFrame, length: int, *, iterations: int = 100,
                momentum: float = 0.99, initial_phase: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Phase reconstruction by fast Griffin-Lim (Perraudin, Balazs & Sondergaard, 2013).

    Starts from ``initial_phase`` (e.g. the content's phase, which sounds far cleaner than random
    phase) when it has the right shape, else from random phase.
    """
    magnitude = magnitude.detach().float().clamp_min(0)
    if initial_phase is not None and initial_phase.shape == magnitude.shape:
        phase = initial_phase.clone()
    else:
        angles = torch.rand(magnitude.shape, generator=generator) * 2 * np.pi
        phase = torch.polar(torch.ones_like(angles), angles)
    previous = torch.zeros_like(phase)
    for _ in range(iterations):
        checkpoint()
        rebuilt = frame.stft(frame.istft(magnitude * phase, length))
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        phase = accelerated / accelerated.abs().clamp_min(1e-16)
        previous = rebuilt
    return frame.istft(magnitude * phase, length)
