"""Objective, network-free scores for an audio style transfer result.

Style (lower = closer): Gram distance under a fixed random shallow net, and MFCC-statistics distance.
Content (higher = closer): correlation of onset-strength envelopes and of chroma with the content.
Plus the log-spectral distance to the content. Everything is computed at 22.05 kHz; clips of different
lengths are compared over their common length where positions matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.fft import dct

from ..losses import gram_matrix, relative_mse
from .backends.shallow import ShallowNet
from .io import resample
from .spectral import SpectralFrame, log_magnitude, mel_filterbank

RATE = 22050
FRAME = SpectralFrame(RATE, 2048, 512)
_MEL = mel_filterbank(RATE, 2048, 64, 0.0, RATE / 2, "slaney").numpy()
_PROBE: ShallowNet | None = None


@dataclass(frozen=True)
class Scores:
    style_gram_result: float   # result vs style
    style_gram_content: float  # content vs style: the baseline a result should beat
    mfcc_result: float
    mfcc_content: float
    onset_correlation: float   # result vs content
    chroma_correlation: float
    log_spectral_distance: float

    def table(self) -> list[list]:
        return [
            ["Gram distance to style (random shallow net)", round(self.style_gram_result, 4),
             round(self.style_gram_content, 4), "lower is closer to the style"],
            ["MFCC-statistics distance to style", round(self.mfcc_result, 3), round(self.mfcc_content, 3),
             "lower is closer to the style"],
            ["Onset-envelope correlation with content", round(self.onset_correlation, 3), 1.0,
             "higher keeps the rhythm"],
            ["Chroma correlation with content", round(self.chroma_correlation, 3), 1.0, "higher keeps the notes"],
            ["Log-spectral distance to content (dB)", round(self.log_spectral_distance, 2), 0.0, ""],
        ]


def _at_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return np.asarray(samples, dtype=np.float32)
    return resample(samples, rate, RATE)


def _probe() -> ShallowNet:
    global _PROBE
    if _PROBE is None:  # a fixed judge, independent of whatever settings the run used
        _PROBE = ShallowNet(filters=(512,), kernel=11, seed=1234, frame=FRAME)
    return _PROBE


def gram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Relative distance between the Gram matrices of the probe net's activations for ``a`` and ``b``."""
    with torch.no_grad():
        grams = [gram_matrix(_probe()(log_magnitude(FRAME, x)[0].unsqueeze(0), {"relu1"})["relu1"].unsqueeze(2))
                 for x in (a, b)]
    return float(relative_mse(grams[0], grams[1]))


def _power(samples: np.ndarray) -> np.ndarray:
    return torch.expm1(log_magnitude(FRAME, samples)[0]).pow(2).numpy()


def _log_mel(samples: np.ndarray) -> np.ndarray:
    return np.log(_MEL @ _power(samples) + 1e-10)


def mfcc_distance(a: np.ndarray, b: np.ndarray, coefficients: int = 20) -> float:
    """Distance between per-coefficient means and standard deviations of MFCCs (timbre summaries)."""
    stats = []
    for x in (a, b):
        mfcc = dct(_log_mel(x), type=2, axis=0, norm="ortho")[1:coefficients]  # c0 (loudness) left out
        stats.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    return float(np.linalg.norm(stats[0] - stats[1]) / np.sqrt(len(stats[0])))


def onset_envelope(samples: np.ndarray) -> np.ndarray:
    """Spectral flux: the positive change of the log-mel spectrum, averaged over bands."""
    flux = np.maximum(0.0, np.diff(_log_mel(samples), axis=1))
    return flux.mean(axis=0)


def chroma(samples: np.ndarray) -> np.ndarray:
    """12 pitch classes per frame from STFT energy between 55 Hz and 5 kHz, each frame normalized."""
    power = _power(samples)
    freqs = np.linspace(0, RATE / 2, power.shape[0])
    keep = (freqs > 55) & (freqs < 5000)
    pitch_class = np.round(12 * np.log2(freqs[keep] / 440.0) + 69).astype(int) % 12
    classes = np.zeros((12, power.shape[1]))
    np.add.at(classes, pitch_class, power[keep])
    return classes / (classes.sum(axis=0, keepdims=True) + 1e-10)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    n = min(x.shape[-1], y.shape[-1])
    x, y = x[..., :n].ravel(), y[..., :n].ravel()
    if x.std() < 1e-12 or y.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def log_spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = _power(a), _power(b)
    n = min(pa.shape[1], pb.shape[1])
    diff = 10 * np.log10(pa[:, :n] + 1e-10) - 10 * np.log10(pb[:, :n] + 1e-10)
    return float(np.sqrt((diff**2).mean(axis=0)).mean())


def score(result: np.ndarray, content: np.ndarray, style: np.ndarray, rate: int) -> Scores:
    """Every score for one run; ``rate`` is the sample rate of all three clips."""
    result, content, style = (_at_rate(x, rate) for x in (result, content, style))
    return Scores(
        style_gram_result=gram_distance(result, style),
        style_gram_content=gram_distance(content, style),
        mfcc_result=mfcc_distance(result, style),
        mfcc_content=mfcc_distance(content, style),
        onset_correlation=_correlation(onset_envelope(result), onset_envelope(content)),
        chroma_correlation=_correlation(chroma(result), chroma(content)),
        log_spectral_distance=log_spectral_distance(result, content),
    )
