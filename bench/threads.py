"""Jobs on a job thread, with and without a pool of OpenMP workers left on the main thread, in one run.

    python bench/threads.py              # median of 5 runs of each job, in each state
    python bench/threads.py --repeats 3

The app computes each job on a thread of its own (:func:`ui.serving.streamed`), and live frames on Gradio's
worker threads. A thread that has run a parallel torch operation keeps OpenMP's worker pool while it lives; once
the pools hold more threads than there are cores, libgomp shortens every team's spin-wait, and each parallel
region waits for its workers to be woken. The page was built on the main thread, stylizing the 26 styles'
thumbnails there: from then on every job ran in that state. Each state runs in a fresh interpreter: "alone" (the
main thread never computes, as :func:`nst_core.runtime.in_passing_thread` keeps it now), "after the main thread"
(it stylized a picture first). The jobs: one 16x16 convolution (bf16, channels-last, as the Fast styles
run it; microseconds), 200 frames of a 64x48 video, a 1 MP picture in one of the 26 styles, a 4 s sound 30
steps on the shallow net.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import machine, report, run_worker  # noqa: E402 (after the path set-up)

STATES = {"alone": False, "after the main thread": True}


def jobs(folder: Path) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from conftest import panning_frames, write_video
    from nst_core import AudioSettings, FastSettings, stylize_audio, stylize_fast
    from nst_core.audio.io import load_audio
    from nst_core.image import onepass
    from nst_core.video import VideoSettings, stylize_video

    conv = torch.nn.Conv2d(32, 32, 3, padding=1).eval().to(memory_format=torch.channels_last)
    small = torch.randn(1, 32, 16, 16).to(memory_format=torch.channels_last)
    model = onepass.multistyle_model("3")
    photo = Image.open(ROOT / "examples" / "images" / "coffee.jpg").convert("RGB").resize((1224, 816))
    clip = write_video(folder / "clip.mp4", panning_frames(200, (64, 48)), fps=25, audio=False)
    rate = 22050
    sounds = [load_audio(ROOT / "examples" / "audio" / f"{name}.flac", sample_rate=rate).samples[: 4 * rate]
              for name in ("speech", "rain")]

    def convolutions() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for _ in range(1000):
                conv(small)

    return {
        "16x16 convolution x1000": convolutions,
        "video, 200 frames of 64x48": lambda: stylize_video(clip, model, VideoSettings(),
                                                            output=folder / "out.mp4"),
        "26 styles, 1 MP picture": lambda: stylize_fast(photo, model, FastSettings()),
        "audio, shallow net, 4 s x 30 steps": lambda: stylize_audio(
            (rate, sounds[0]), [(rate, sounds[1])],
            AudioSettings(steps=30, adaptive=False, griffin_lim_iterations=30)),
        "_picture": lambda: np.asarray(stylize_fast(photo.resize((256, 170)), model, FastSettings()).image),
    }


def on_a_thread(work) -> float:
    seconds: list[float] = []

    def run() -> None:
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seconds[0]


def worker(state: str, repeats: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    with tempfile.TemporaryDirectory() as folder:
        work = jobs(Path(folder))
        picture = work.pop("_picture")
        if STATES[state]:
            picture()  # as the page's thumbnails were made
        else:
            on_a_thread(picture)  # the same work, on a thread that ends with it
        times = {}
        for name, job in work.items():
            on_a_thread(job)  # warm: the kernels for these shapes picked
            times[name] = statistics.median(on_a_thread(job) for _ in range(repeats))
        report({"state": state, "times": times})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeats)
        return
    print(f"# {machine()}")
    results = {state: run_worker(__file__, state, "--repeats", str(args.repeats))["times"] for state in STATES}
    alone, shared = results.values()
    print("| job (on a job thread) | alone | after the main thread computed | ratio |")
    print("|---|---|---|---|")
    for name in alone:
        print(f"| {name} | {alone[name]:.3f} s | {shared[name]:.3f} s | {shared[name] / alone[name]:.2f}x |")


if __name__ == "__main__":
    main()
