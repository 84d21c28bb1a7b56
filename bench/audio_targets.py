"""Benchmark the style strength's promise on pairs the project has never tuned on: each target, as the run's own
scores read it and as an independent judge reads it, and what the result says about it.

    pip install espeakng-loader==0.2.4     # the speech synthesizer (the app does not need it)
    python bench/audio_targets.py
    python bench/audio_targets.py --strength 0.7 --pairs sentence:organ --precision fp32

Pairs: "sentence", a spoken sentence the project's examples do not contain (eSpeak NG, British English voice,
150 words a minute, 8 s at 22.05 kHz), and the committed piano melody, each under "organ", a sustained organ
chord made here (C3, G3, C4, E4 with drawbar-like partials 1-8 and a 6 Hz tremolo, 8 s). Any committed
example clip can be named too (``--pairs speech:rain``), as the tests load it. Each run is
``AudioSettings(backend="shallow", style_strength=...)`` as a user calls it. The independent judge reads the same
three targets another way: onsets by librosa's onset strength on a 64-band mel spectrogram at hop 256 (the run
reads 128 bands at hop 512), chroma by librosa's constant-Q chroma (the run: STFT chroma), and the Gram ratio as
the largest of eight random 1-D nets of other widths and kernels than the run's panel.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from common import machine  # noqa: E402 (after the path set-up)

RATE, SECONDS = 22050, 8.0
SENTENCE = "The old harbour keeps a lantern burning, and the ferry leaves at seven when the fog lifts."


def sentence() -> np.ndarray:
    from make_speech_example import speak

    samples, rate = speak(SENTENCE, voice="en-gb", words_per_minute=150)
    import librosa

    samples = librosa.resample(samples, orig_sr=rate, target_sr=RATE) if rate != RATE else samples
    return _fit(samples)


def organ() -> np.ndarray:
    """A sustained chord: four notes, eight harmonics each with falling drawbar levels, a slow tremolo."""
    t = np.arange(int(SECONDS * RATE)) / RATE
    notes = [130.81, 196.00, 261.63, 329.63]  # C3, G3, C4, E4
    levels = [1.0, 0.8, 0.6, 0.5, 0.3, 0.25, 0.15, 0.1]
    tone = sum(level * np.sin(2 * np.pi * note * (k + 1) * t) for note in notes for k, level in enumerate(levels))
    tone *= 1 + 0.08 * np.sin(2 * np.pi * 6.0 * t)
    fade = np.minimum(1.0, np.minimum(t / 0.05, (SECONDS - t) / 0.05))
    return _fit(tone * fade)


def example(name: str) -> np.ndarray:
    """A committed example clip (examples/audio/NAME.flac), as the tests load it."""
    from nst_core.audio.io import load_audio

    return load_audio(ROOT / "examples" / "audio" / f"{name}.flac", sample_rate=RATE).samples


def _fit(samples: np.ndarray) -> np.ndarray:
    length = int(SECONDS * RATE)
    samples = np.pad(samples, (0, max(0, length - len(samples))))[:length]
    return (0.9 * samples / np.abs(samples).max()).astype(np.float32)


CLIPS = {"sentence": sentence, "organ": organ, "melody": lambda: _fit(example("piano_melody"))}


def independent(result: np.ndarray, content: np.ndarray, style: np.ndarray) -> tuple[float, float, float]:
    """(onset, chroma, Gram ratio) read by other means than the run's own scores."""
    import librosa
    import torch

    from nst_core.audio import metrics
    from nst_core.audio.spectral import log_magnitude

    def onsets(x: np.ndarray) -> np.ndarray:
        return librosa.onset.onset_strength(y=x, sr=RATE, hop_length=256, n_mels=64)

    def chroma(x: np.ndarray) -> np.ndarray:
        return librosa.feature.chroma_cqt(y=x, sr=RATE, hop_length=512)

    audible = metrics.audible_frames(content)
    a, b = chroma(result), chroma(content)
    frames = min(a.shape[1], b.shape[1], len(audible))
    keep = audible[:frames]
    chroma_r = float(np.corrcoef(a[:, :frames][:, keep].ravel(), b[:, :frames][:, keep].ravel())[0, 1])
    x, y = onsets(result), onsets(content)
    n = min(len(x), len(y))
    onset_r = float(np.corrcoef(x[:n], y[:n])[0, 1])

    def spectrum(samples: np.ndarray) -> torch.Tensor:
        return log_magnitude(metrics.FRAME, samples / np.abs(samples).max())[0]

    ratios = []
    for filters in (256, 1024):
        for kernel in (1, 5, 9, 21):
            judge = metrics.GramJudge(seed=100 + filters + kernel, filters=filters, kernel=kernel)
            target = judge.gram(spectrum(style))
            ratios.append(judge.distance(spectrum(result), target) / judge.distance(spectrum(content), target))
    return onset_r, chroma_r, max(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["sentence:organ", "melody:organ"])
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = parser.parse_args()

    from nst_core import AudioSettings, stylize_audio

    print(machine())
    print("| pair | seconds | steps | target | asked | run's scores | independent judge | met |")
    print("|---|---|---|---|---|---|---|---|")
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        content, style = (CLIPS[name]() if name in CLIPS else example(name) for name in (content_name, style_name))
        started = time.perf_counter()
        result = stylize_audio((RATE, content), [(RATE, style)],
                               AudioSettings(backend="shallow", style_strength=args.strength,
                                             precision=args.precision))
        seconds = time.perf_counter() - started
        steps = result.balance[-1].step if result.balance else "-"
        judged = dict(zip(("onset", "chroma", "gram_ratio"), independent(result.samples, content, style)))
        for name, fact in result.facts["targets"].items():
            sign = "<=" if name == "gram_ratio" else ">="
            print(f"| {pair} | {seconds:.1f} | {steps} | {name} | {sign} {fact['target']:.2f} | {fact['reached']:.3f} "
                  f"| {judged[name]:.3f} | {'yes' if fact['met'] else '**no**'} |", flush=True)
        for notice in result.notices:
            print(f"  notice: {notice}")
        for reading in result.balance:
            print(f"  reading at step {reading.step}: onset {reading.onset:.3f}, chroma {reading.chroma:.3f}, "
                  f"Gram ratio {reading.gram_ratio:.3f}, style factor {reading.style_scale:.3g}")


if __name__ == "__main__":
    main()
