"""Benchmark the Audio tab: a default run on a 10 s clip for each backend, plus the reference setting.

    python bench/audio.py
    python bench/audio.py --backends shallow --repeats 3 --no-reference

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
    from nst_core.audio.backends import CNN14, VGGish, load_backend
    from nst_core.audio.optimize import AudioSettings, stylize_audio

    try:
        backend = load_backend(backend_name)
        weights = backend.weights_note
    except WeightsUnavailable:
        backend = {"vggish": VGGish, "cnn14": CNN14}[backend_name]().eval().requires_grad_(False)
        weights = "random weights (pretrained file not cached)"
    options = dict(filters=(4096,), steps=300, griffin_lim_iterations=500, envelope_weight=0.0) if reference else {}
    if reference:
        backend = load_backend("shallow", filters=(4096,))
        weights = backend.weights_note
    settings = AudioSettings(backend=backend_name, segment_seconds=30, **options)
    started = time.perf_counter()
    result = stylize_audio(ten_seconds(CONTENT), [ten_seconds(STYLE)], settings, backend=backend)
    return {"wall": time.perf_counter() - started, "phase": result.phase_seconds, "weights": weights,
            "note": result.backend_note, "runtime": result.runtime, "scores": result.scores.__dict__,
            "steps": settings.steps or backend.defaults.steps, "griffin_lim": settings.griffin_lim_iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["shallow", "vggish", "cnn14", "genre"])
    parser.add_argument("--repeats", type=int, default=1, help="runs per backend (the median is reported)")
    parser.add_argument("--no-reference", action="store_true", help="skip the 300-iteration reference run")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker[0], args.worker[1] == "reference")
        report(result)
        return

    print(f"machine: {machine()}")
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
