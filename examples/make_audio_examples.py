"""Synthesize the audio examples: a piano-like melody, a drum loop, a string pad and rain-like noise.

    python examples/make_audio_examples.py

Everything here is generated from scratch (numpy + soundfile), so the project may ship the results:
8-second mono FLAC files at 22.05 kHz in examples/audio/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import butter, sosfilt

RATE = 22050
SECONDS = 8.0
HERE = Path(__file__).resolve().parent / "audio"


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def _midi(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def piano_melody() -> np.ndarray:
    """A C-major tune; each note a few inharmonic partials with a fast attack and exponential decay."""
    tune = [60, 64, 67, 72, 71, 67, 64, 62, 60, 65, 69, 72, 71, 67, 62, 60]
    out = np.zeros(int(SECONDS * RATE))
    beat = SECONDS / len(tune)
    for i, note in enumerate(tune):
        t = _time(beat * 2)
        f0 = _midi(note)
        tone = sum(np.sin(2 * np.pi * f0 * k * (1 + 0.0004 * k * k) * t) / k**1.5 for k in range(1, 7))
        tone *= np.exp(-3.0 * t) * (1 - np.exp(-t * 400))
        start = int(i * beat * RATE)
        end = min(start + len(t), len(out))
        out[start:end] += tone[: end - start]
    return out


def drum_loop() -> np.ndarray:
    """Kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths, 120 bpm."""
    rng = np.random.default_rng(0)
    out = np.zeros(int(SECONDS * RATE))
    beat = 0.5
    kick_t = _time(0.3)
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * 12)
    snare_t = _time(0.2)
    snare = (0.6 * rng.standard_normal(len(snare_t)) + 0.4 * np.sin(2 * np.pi * 190 * snare_t)) * np.exp(-snare_t * 25)
    hat_t = _time(0.05)
    hat = sosfilt(butter(4, 7000, "highpass", fs=RATE, output="sos"), rng.standard_normal(len(hat_t)))
    hat *= np.exp(-hat_t * 80) * 0.4
    for i in range(int(SECONDS / beat)):
        start = int(i * beat * RATE)
        hit = kick if i % 2 == 0 else snare
        out[start:start + len(hit)] += hit[: len(out) - start]
        for half in (0, 1):
            at = start + int(half * beat / 2 * RATE)
            out[at:at + len(hat)] += hat[: len(out) - at]
    return out


def string_pad() -> np.ndarray:
    """Slow-attack detuned sawtooth chords (Am - F - C - G), low-passed."""
    chords = [(57, 60, 64), (53, 57, 60), (48, 55, 64), (55, 59, 62)]
    out = np.zeros(int(SECONDS * RATE))
    length = SECONDS / len(chords)
    t = _time(length)
    envelope = np.minimum(1, t / 0.6) * np.minimum(1, (length - t) / 0.4)
    for i, chord in enumerate(chords):
        tone = np.zeros_like(t)
        for note in chord:
            for detune in (-0.004, 0.0, 0.004):
                phase = (_midi(note) * (1 + detune) * t) % 1.0
                tone += 2 * phase - 1
        start = int(i * length * RATE)
        out[start:start + len(t)] += (tone * envelope)[: len(out) - start]
    return sosfilt(butter(2, 2500, "lowpass", fs=RATE, output="sos"), out)


def rain() -> np.ndarray:
    """Band-passed noise bed with many short random drops."""
    rng = np.random.default_rng(1)
    bed = sosfilt(butter(2, [400, 6000], "bandpass", fs=RATE, output="sos"), rng.standard_normal(int(SECONDS * RATE)))
    out = 0.3 * bed
    drop_t = _time(0.03)
    for _ in range(900):
        at = rng.integers(0, len(out) - len(drop_t))
        freq = rng.uniform(1500, 5000)
        out[at:at + len(drop_t)] += rng.uniform(0.1, 0.6) * np.sin(2 * np.pi * freq * drop_t) * np.exp(-drop_t * 200)
    return out


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, make in (("piano_melody", piano_melody), ("drum_loop", drum_loop), ("string_pad", string_pad),
                       ("rain", rain)):
        samples = make()
        samples = 0.9 * samples / np.abs(samples).max()
        soundfile.write(HERE / f"{name}.flac", samples.astype(np.float32), RATE, subtype="PCM_16")


if __name__ == "__main__":
    main()
