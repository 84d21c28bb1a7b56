"""Differentiable content descriptors on the optimized spectrogram: librosa's onset strength and chroma in torch.

The scores judge a result by librosa's onset-strength envelope and STFT chroma against the content's
(``metrics.py``). The same two descriptors, computed here in torch from log1p|STFT| with librosa's own
filters, give the optimization content terms on what the scores measure (``balance.py``).
"""

from __future__ import annotations

import librosa
import torch

from .spectral import SpectralFrame

TOP_DB = 80.0  # librosa.power_to_db's default range below the loudest value


class Descriptors:
    """Onset strength and chroma of one :class:`SpectralFrame`'s spectrograms, as librosa computes them.

    ``onset`` follows ``librosa.onset.onset_strength`` (128-band Slaney mel power in dB, clipped 80 dB
    below its peak, positive first difference averaged over bands); ``chroma`` follows
    ``librosa.feature.chroma_stft`` at a given tuning (each frame scaled to its loudest pitch class).
    """

    def __init__(self, frame: SpectralFrame, device: torch.device | str = "cpu", tuning: float = 0.0) -> None:
        rate, n_fft = frame.sample_rate, frame.n_fft
        self.mel = torch.from_numpy(librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=128)).to(device)
        self.pitch = torch.from_numpy(librosa.filters.chroma(sr=rate, n_fft=n_fft, tuning=tuning)).to(device)

    @staticmethod
    def power(log1p_magnitude: torch.Tensor) -> torch.Tensor:
        return torch.expm1(log1p_magnitude.float().clamp_min(0)).square()

    def onset(self, log1p_magnitude: torch.Tensor) -> torch.Tensor:
        """(bins, frames) -> (frames - 1,) onset strength (without librosa's centring pad)."""
        decibels = 10.0 * torch.log10((self.mel @ self.power(log1p_magnitude)).clamp_min(1e-10))
        decibels = torch.maximum(decibels, decibels.max().detach() - TOP_DB)
        return torch.relu(decibels.diff(dim=-1)).mean(dim=-2)

    def chroma(self, log1p_magnitude: torch.Tensor) -> torch.Tensor:
        """(bins, frames) -> (12, frames); frames far below the loudest are left unscaled, as librosa does."""
        classes = self.pitch @ self.power(log1p_magnitude)
        peak = classes.amax(dim=-2, keepdim=True)
        return classes / peak.clamp_min(1e-6 * float(peak.max().detach()) + 1e-20)

