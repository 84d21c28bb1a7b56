"""Benchmark the Audio tab: every example pair at the adaptive default and at the fixed weights it replaced;
a default run on a 10 s clip for each backend, plus the reference setting.

    python bench/audio.py --pairs --repeats 3        # the pair table (the style-strength targets)
    python bench/audio.py --backends shallow --repeats 3 --no-reference

Pairs: each content and style clip is repeated to 10 s; "fixed" is the shallow default before the
style strength existed (``adaptive=False``, 2048 filters: 240 L-BFGS steps at fixed weights),
"strength 0.5" the default now (1024 filters, stopping at the targets). Targets: onset >= 0.8, chroma
>= 0.7, Gram ratio (result vs style over content vs style) <= 0.5, in at most 20 s. Both run in one
invocation, each in a fresh subprocess; times are of ``stylize_audio`` (imports excluded, as in the app).

Each run happens in a fresh subprocess (peak RSS is its own) and reports wall time split into
optimization and phase reconstruction, and the objective scores. VGGish and CNN14 run on random
weights when their pretrained files are not in the cache (speed does not depend on the values; their
scores then say nothing about the pretrained networks). The reference setting is Ulyanov & Lebedev's:
one layer of 4096 filters, 300 L-BFGS iterations, 500 Griffin-Lim iterations, the Gram loss alone
(no long-term-spectrum term).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine, report, run_worker  # noqa: E402 (after the path set-up)

CONTENT, STYLE = "piano_melody.flac", "string_pad.flac"
PAIRS = [("piano_melody", "string_pad"), ("piano_melody", "rain"), ("drum_loop", "string_pad"),
         ("piano_melody", "drum_loop"), ("speech", "string_pad"), ("speech", "rain")]


def ten_seconds(name: str) -> Path:
    """The example clip repeated to exactly 10 s (the examples are 8 s long)."""
    import numpy as np
    import soundfile

    samples, rate = soundfile.read(ROOT / "examples" / "audio" / name)
    out = ROOT / "out" / f"{Path(name).stem}-10s.wav"
    out.parent.mkdir(exist_ok=True)
    soundfile.write(out, np.tile(samples, 2)[: 10 * rate], rate)
    return out


def worker(backend_name: str, reference: bool) -> dict:
    from nst_core import WeightsUnavailable
    from nst_core.audio.backends import CNN14, ShallowOptions, VGGish, load_backend
    from nst_core.audio.optimize import AudioSettings, stylize_audio

    try:
        backend = load_backend(backend_name)
        weights = backend.weights_note
    except WeightsUnavailable:
        backend = {"vggish": VGGish, "cnn14": CNN14}[backend_name]().eval().requires_grad_(False)
        weights = "random weights (pretrained file not cached)"
    options = dict(options=ShallowOptions(filters=(4096,)), steps=300, griffin_lim_iterations=500,
                   envelope_weight=0.0) if reference else {}
    if reference:
        backend = load_backend("shallow", ShallowOptions(filters=(4096,)))
        weights = backend.weights_note
    settings = AudioSettings(backend=backend_name, segment_seconds=30, **options)
    started = time.perf_counter()
    result = stylize_audio(ten_seconds(CONTENT), [ten_seconds(STYLE)], settings, backend=backend)
    return {"wall": time.perf_counter() - started, "phase": result.phase_seconds, "weights": weights,
            "note": result.backend_note, "runtime": result.runtime, "scores": result.scores.__dict__,
            "steps": settings.steps or backend.defaults.steps, "griffin_lim": settings.griffin_lim_iterations}


def pair_worker(content: str, style: str, mode: str) -> dict:
    from nst_core import AudioSettings, stylize_audio
    from nst_core.audio.backends import ShallowOptions

    # "fixed": the default before the style strength (2048 filters, fixed weights, all 240 steps).
    settings = (AudioSettings(adaptive=False, options=ShallowOptions(filters=(2048,))) if mode == "fixed"
                else AudioSettings())
    started = time.perf_counter()
    result = stylize_audio(ten_seconds(f"{content}.flac"), [ten_seconds(f"{style}.flac")], settings)
    steps = result.balance[-1].step if result.balance else 240
    return {"wall": time.perf_counter() - started, "scores": result.scores.__dict__, "steps": steps,
            "independent": independent_ratio(result, content, style)}


def independent_ratio(result, content: str, style: str) -> float:
    """The Gram ratio (result vs style over content vs style) under a judge no run sees: a random shallow net
    of another width, kernel and seed (1024 filters, kernel 5, seed 2024), each clip peak-normalized."""
    import soundfile

    from nst_core.audio.io import resample
    from nst_core.audio.metrics import FRAME, GramJudge
    from nst_core.audio.spectral import log_magnitude

    judge = GramJudge(seed=2024, filters=1024, kernel=5)

    def spectrum(samples, rate):
        samples = samples.mean(axis=1) if samples.ndim == 2 else samples
        samples = resample(samples, rate, FRAME.sample_rate) if rate != FRAME.sample_rate else samples
        return log_magnitude(FRAME, samples / max(abs(samples).max(), 1e-9))[0]

    loaded = [soundfile.read(ten_seconds(f"{name}.flac"), dtype="float32") for name in (content, style)]
    target = judge.gram(spectrum(*loaded[1]))
    baseline = judge.distance(spectrum(*loaded[0]), target)
    return judge.distance(spectrum(result.samples, result.sample_rate), target) / max(baseline, 1e-12)


def pair_table(repeats: int, modes: tuple[str, ...] = ("fixed", "strength 0.5")) -> None:
    print(f"{'pair':<26} {'run':<13} {'wall s':>7} {'steps':>5} {'onset':>6} {'chroma':>6} {'gram ratio':>10} "
          f"{'independent':>11} {'mfcc r/c':>13}  targets met")
    for content, style in PAIRS:
        for mode in modes:
            # The fixed weights always run 240 steps (about 50 s): once is enough for their figures.
            runs = [run_worker(__file__, "pair", content, style, mode)
                    for _ in range(1 if mode == "fixed" else repeats)]
            wall = statistics.median(r["wall"] for r in runs)
            s, steps = runs[0]["scores"], runs[0]["steps"]
            ratio = s["style_gram_result"] / s["style_gram_content"]
            independent = runs[0]["independent"]
            met = s["onset_correlation"] >= 0.8 and s["chroma_correlation"] >= 0.7 and max(ratio, independent) <= 0.5
            print(f"{content + ' / ' + style:<26} {mode:<13} {wall:>7.1f} {steps:>5} {s['onset_correlation']:>6.3f} "
                  f"{s['chroma_correlation']:>6.3f} {ratio:>10.2f} {independent:>11.2f} "
                  f"{s['mfcc_result']:>6.2f}/{s['mfcc_content']:<6.2f}"
                  f"  {'yes' if met else 'no'}{'' if wall <= 20 else ' (over 20 s)'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["shallow", "vggish", "cnn14", "genre"])
    parser.add_argument("--repeats", type=int, default=1, help="runs per backend (the median is reported)")
    parser.add_argument("--no-reference", action="store_true", help="skip the 300-iteration reference run")
    parser.add_argument("--pairs", action="store_true", help="the pair table instead of the backend table")
    parser.add_argument("--strength-only", action="store_true", help="pairs: only the default style strength run")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker[0] == "pair":
            report(pair_worker(*args.worker[1:]))
        else:
            report(worker(args.worker[0], args.worker[1] == "reference"))
        return

    print(f"machine: {machine()}")
    if args.pairs:
        pair_table(args.repeats, ("strength 0.5",) if args.strength_only else ("fixed", "strength 0.5"))
        return
    print("10 s clip: content = piano melody, style = string pad (examples/audio, repeated to 10 s)")
    print(f"{'run':<20} {'wall s':>7} {'optim s':>8} {'phase s':>8} {'peak MB':>8}  "
          f"{'gram r/c':>15} {'mfcc r/c':>13} {'onset':>6} {'chroma':>6}  weights")
    runs = [(name, False) for name in args.backends] + ([] if args.no_reference else [("shallow", True)])
    for name, reference in runs:
        results = [run_worker(__file__, name, "reference" if reference else "default")
                   for _ in range(1 if reference else args.repeats)]
        wall = statistics.median(r["wall"] for r in results)
        r = results[0]
        s = r["scores"]
        label = f"{name} (reference)" if reference else f"{name} ({r['steps']} it)"
        print(f"{label:<20} {wall:>7.1f} {wall - r['phase']:>8.1f} {r['phase']:>8.1f} {r['peak_rss_mb']:>8.0f}  "
              f"{s['style_gram_result']:>7.4f}/{s['style_gram_content']:<7.4f} "
              f"{s['mfcc_result']:>6.3f}/{s['mfcc_content']:<6.3f} {s['onset_correlation']:>6.3f} "
              f"{s['chroma_correlation']:>6.3f}  {r['weights']}", flush=True)


if __name__ == "__main__":
    main()
