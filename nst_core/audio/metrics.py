"""Objective, network-free scores for an audio style transfer result.

Style (lower = closer): Gram distance under a fixed random shallow net (at one reference loudness), and
MFCC-statistics distance (c0, the loudness, left out).
Content (higher = closer): correlation of onset-strength envelopes and of chroma with the content.
The MFCCs, onset strength and chroma are librosa's, so the figures mean what they mean elsewhere.
Plus the log-spectral distance to the content. Everything is computed at 22.05 kHz; clips of different
lengths are compared over their common length where positions matter.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import librosa
import librosa.core.pitch  # noqa: F401 (loaded with the module, not inside a user's first run: ~1.5 s)
import numpy as np
import torch

from ..losses import gram_matrix, relative_mse
from .backends.shallow import ShallowNet
from .io import resample
from .spectral import SpectralFrame, log_magnitude

RATE = 22050
FRAME = SpectralFrame(RATE, 2048, 512)
_STFT = {"n_fft": FRAME.n_fft, "hop_length": FRAME.hop}
REFERENCE_RMS = 0.1
# Who reads the style strength's targets on a result (AudioResult.facts["judge"]).
JUDGE = ("the result's own scores: librosa's onset envelope and chroma against the content's, and the largest Gram "
         "ratio of a panel of three random 1-D nets (kernels 11, 3 and 21 frames), on the final audio")


@dataclass(frozen=True)
class Scores:
    style_gram_result: float   # result vs style
    style_gram_content: float  # content vs style: the baseline a result should beat
    mfcc_result: float
    mfcc_content: float
    onset_correlation: float   # result vs content
    chroma_correlation: float
    log_spectral_distance: float

    @property
    def balance(self) -> BalanceScores:
        """The three scores the style strength's targets are stated in."""
        return BalanceScores(self.onset_correlation, self.chroma_correlation,
                             self.style_gram_result / max(self.style_gram_content, 1e-12))


def _at_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return np.asarray(samples, dtype=np.float32)
    return resample(samples, rate, RATE)


class GramJudge:
    """Gram distance in a fixed random shallow net that no optimization sees, at one reference loudness.

    ``log1p|STFT|`` features change with playback level, and results are peak-normalized on the way out,
    so every spectrogram is first scaled to the mean power of a signal at ``REFERENCE_RMS``: the
    distance then measures the sound, not its volume. The balance controller reads the same judge on
    the spectrogram it optimizes, in the backend's own STFT.
    """

    def __init__(self, frame: SpectralFrame = FRAME, seed: int = 1234, *, filters: int = 512, kernel: int = 11) -> None:
        self.frame = frame
        self.net = ShallowNet(filters=(filters,), kernel=kernel, seed=seed, frame=frame)
        # Parseval: a signal of RMS r has STFT power r^2 * sum(window^2) per bin on average.
        self.reference_power = REFERENCE_RMS**2 * float(frame.window().square().sum())

    def gram(self, log1p_magnitude: torch.Tensor) -> torch.Tensor:
        power = torch.expm1(log1p_magnitude.float().clamp_min(0)).square()
        scale = (self.reference_power / power.mean().clamp_min(1e-20)).sqrt()
        levelled = torch.log1p(torch.expm1(log1p_magnitude.float().clamp_min(0)) * scale)
        net = self.net.to(levelled.device)
        with torch.no_grad():
            return gram_matrix(net(levelled.unsqueeze(0), {"relu1"})["relu1"].unsqueeze(2))

    def distance(self, log1p_magnitude: torch.Tensor, target_gram: torch.Tensor) -> float:
        return float(relative_mse(self.gram(log1p_magnitude), target_gram))


class GramPanel:
    """Several :class:`GramJudge` nets of different widths of time (kernels 3, 11 and 21 frames), read together.

    One random net is one opinion: a run that stops when its own judge reads the target can end a few
    hundredths above it under another fair judge (speech under rain read 0.48 on the scores' net and up to 0.53
    on unseen nets of other kernels). A ratio read by the panel is the largest of its nets' ratios, so the
    style-strength controller stops only once every opinion agrees.
    """

    MEMBERS = ((11, 1234), (3, 4321), (21, 2718))  # (kernel, seed); the first is the scores' reported net

    def __init__(self, frame: SpectralFrame = FRAME) -> None:
        self.judges = [GramJudge(frame, seed, kernel=kernel) for kernel, seed in self.MEMBERS]

    def grams(self, log1p_magnitude: torch.Tensor) -> list[torch.Tensor]:
        return [judge.gram(log1p_magnitude) for judge in self.judges]

    def distances(self, log1p_magnitude: torch.Tensor, targets: list[torch.Tensor]) -> list[float]:
        return [judge.distance(log1p_magnitude, target) for judge, target in zip(self.judges, targets)]


def gram_distance(a: np.ndarray, b: np.ndarray, judge: GramJudge | None = None) -> float:
    """Relative distance between the Gram matrices of the judge's activations for ``a`` and ``b``."""
    judge = judge or GramJudge()
    return judge.distance(log_magnitude(FRAME, a)[0], judge.gram(log_magnitude(FRAME, b)[0]))


def mfcc_distance(a: np.ndarray, b: np.ndarray, coefficients: int = 20) -> float:
    """Distance between per-coefficient means and standard deviations of MFCCs (timbre summaries)."""
    stats = []
    for x in (a, b):
        mfcc = librosa.feature.mfcc(y=x, sr=RATE, n_mfcc=coefficients, **_STFT, n_mels=64)[1:]  # c0 is loudness
        stats.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    return float(np.linalg.norm(stats[0] - stats[1]) / np.sqrt(len(stats[0])))


def onset_envelope(samples: np.ndarray) -> np.ndarray:
    """librosa's onset strength: the positive spectral flux of the log-mel spectrum, per frame."""
    return librosa.onset.onset_strength(y=samples, sr=RATE, **_STFT)


def estimate_tuning(samples: np.ndarray) -> float:
    """The clip's deviation from A440 in fractions of a semitone (librosa's estimate)."""
    return float(librosa.estimate_tuning(y=samples, sr=RATE, n_fft=FRAME.n_fft))


def chroma(samples: np.ndarray, tuning: float = 0.0) -> np.ndarray:
    """librosa's chroma from the STFT: 12 pitch classes per frame, each frame scaled to its loudest class.

    Compare two clips at one ``tuning`` (the content's): estimated per clip, a restyled result's estimate
    wanders and shifts every pitch class boundary, which would count as lost notes. Compare them where the
    content is audible (``audible_frames``): each frame is scaled to its loudest class, so in a pause the
    chroma of a trace of noise counts as much as a chord, and silence has no notes to keep.
    """
    return librosa.feature.chroma_stft(y=samples, sr=RATE, tuning=tuning, **_STFT)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    n = min(x.shape[-1], y.shape[-1])
    x, y = x[..., :n].ravel(), y[..., :n].ravel()
    if x.std() < 1e-12 or y.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def audible_frames(samples: np.ndarray, range_db: float = 60.0) -> np.ndarray:
    """Frames whose RMS is within ``range_db`` of the clip's loudest frame (the STFT frames of the scores)."""
    rms = librosa.feature.rms(y=samples, frame_length=FRAME.n_fft, hop_length=FRAME.hop)[0]
    return rms >= rms.max() * 10.0 ** (-range_db / 20.0)


def _where(frames: np.ndarray, *features: np.ndarray) -> list[np.ndarray]:
    """The columns of each (.., frames) feature where ``frames`` is true, over their common length."""
    n = min(len(frames), *(f.shape[-1] for f in features))
    return [f[..., :n][..., frames[:n]] for f in features]


def log_spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = (np.abs(librosa.stft(x, **_STFT)) ** 2 for x in (a, b))
    n = min(pa.shape[1], pb.shape[1])
    diff = 10 * np.log10(pa[:, :n] + 1e-10) - 10 * np.log10(pb[:, :n] + 1e-10)
    return float(np.sqrt((diff**2).mean(axis=0)).mean())


@dataclass(frozen=True)
class BalanceScores:
    """The three scores the style-strength targets are stated in (see balance.py)."""

    onset_correlation: float
    chroma_correlation: float
    gram_ratio: float  # result's Gram distance to the style over the content's


class Judge:
    """Scores results of one content and style: their features are computed once, for many results."""

    def __init__(self, content: np.ndarray, style: np.ndarray, rate: int) -> None:
        """``rate``: the sample rate of the clips given (the judge works at 22.05 kHz)."""
        self.style = _at_rate(style, rate)
        self.grams = GramPanel()
        self.style_grams = self.grams.grams(log_magnitude(FRAME, self.style)[0])
        self._use_content(content, rate, tuning=None)

    def for_content(self, content: np.ndarray, rate: int) -> Judge:
        """A judge of the same style and tuning for another content (a segment of this one)."""
        other = copy.copy(self)
        other._use_content(content, rate, tuning=self.tuning)
        return other

    def _use_content(self, content: np.ndarray, rate: int, tuning: float | None) -> None:
        self.rate = rate
        self.content = _at_rate(content, rate)
        self.content_distances = self.grams.distances(log_magnitude(FRAME, self.content)[0], self.style_grams)
        self.content_distance = self.content_distances[0]
        self.tuning = estimate_tuning(self.content) if tuning is None else tuning  # the slow part of setting up
        self.content_onset = onset_envelope(self.content)
        self.content_chroma = chroma(self.content, self.tuning)
        self.audible = audible_frames(self.content)

    def balance(self, result: np.ndarray) -> BalanceScores:
        result = _at_rate(result, self.rate)
        distances = self.grams.distances(log_magnitude(FRAME, result)[0], self.style_grams)
        ratio = max(d / max(c, 1e-12) for d, c in zip(distances, self.content_distances))  # the panel's (see GramPanel)
        return BalanceScores(_correlation(onset_envelope(result), self.content_onset),
                             _correlation(*_where(self.audible, chroma(result, self.tuning), self.content_chroma)),
                             ratio)

    def scores(self, result: np.ndarray) -> Scores:
        balance = self.balance(result)
        result = _at_rate(result, self.rate)
        return Scores(
            style_gram_result=balance.gram_ratio * self.content_distance,
            style_gram_content=self.content_distance,
            mfcc_result=mfcc_distance(result, self.style),
            mfcc_content=mfcc_distance(self.content, self.style),
            onset_correlation=balance.onset_correlation,
            chroma_correlation=balance.chroma_correlation,
            log_spectral_distance=log_spectral_distance(result, self.content),
        )


def score(result: np.ndarray, content: np.ndarray, style: np.ndarray, rate: int) -> Scores:
    """Every score for one run; ``rate`` is the sample rate of all three clips."""
    return Judge(content, style, rate).scores(result)
