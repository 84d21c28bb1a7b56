"""The app as a public service: what its budgets allow, what that costs, and how it holds up under use.

Starts ``python app.py`` offline on 127.0.0.1 (a fresh process, budgets from the environment as a Space
would have them), then, through gradio_client only:

* for each endpoint, a request at the edge of what the budgets allow: its measured peak memory (the app
  process's resident memory above its idle level, sampled every 10 ms) and time, with the estimate beside it;
* cancel-to-idle: a 512 px run cancelled after its first preview, and the time until the process is idle;
* a soak of ``--soak`` calls (Fast styles and small images): memory and files on disk before and after;
* ``/fast`` latency alone and beside a busy heavy slot (median of ``--repeats``).

    python bench/serve.py                   # about 10 minutes on 2 cores
    python bench/serve.py --soak 100 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import machine, peak_resident_mb, resident_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGES, AUDIO = ROOT / "examples" / "images", ROOT / "examples" / "audio"
TICKS = os.sysconf("SC_CLK_TCK")
# The app's log line once its Fast styles graphs are built (or their warm-up ended otherwise).
WARMED = re.compile(r"fast styles: (?:(compiled|stopped) in (\d+) s|warm-up failed)")


class Process:
    """The app's process, watched from outside: resident memory and CPU time from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def rss_mb(self) -> float:
        return resident_mb(self.pid)

    def cpu_s(self) -> float:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def measure(self, call) -> tuple[float, float, object]:
        """(seconds, peak MB above the level before, result) of ``call()``."""
        time.sleep(1.0)
        base = self.rss_mb()
        with peak_resident_mb(self.pid, every_s=0.01) as peak:
            started = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - started
        return seconds, peak() - base, result

    def idle_after(self, since: float, window: float = 0.25, limit: float = 30.0) -> float:
        """Seconds from ``since`` until the process used under 10 % of a core over ``window``."""
        while time.monotonic() - since < limit:
            used = self.cpu_s()
            time.sleep(window)
            if self.cpu_s() - used < 0.1 * window:
                return time.monotonic() - since - window
        return float("inf")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(pattern: re.Pattern, log: Path) -> re.Match:
    """The first match of ``pattern`` in the app's log, waited for."""
    while not (found := pattern.search(log.read_text())):
        time.sleep(0.5)
    return found


def start_app(folder: Path, environment: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``python app.py`` offline on a free port of 127.0.0.1, its files under ``folder`` (its log: app.log), with
    ``environment`` added; returns the process and its URL once it answers."""
    port = free_port()
    env = {**os.environ, **(environment or {}), "HF_HUB_OFFLINE": "1", "HF_HOME": str(folder / "hf"),
           "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(folder / "gradio"),
           "NST_RESULTS_DIR": str(folder / "results"), "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(folder / "app.log", "w") as log:  # the child keeps its own copy of the handle
        app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            Client(url, verbose=False)
            return app, url
        time.sleep(1.0)
    app.kill()
    raise RuntimeError("the app did not start; see app.log")


def write_clip(path: Path, frames: int, size: tuple[int, int]) -> None:
    """A panning crop of an example photo with noise, H.264 at 12 frames/s (a video's worth of real motion)."""
    import av

    photo = np.asarray(Image.open(IMAGES / "astronaut.jpg").convert("RGB").resize((size[0] * 2, size[1])))
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for index in range(frames):
            left = index * size[0] // frames
            rgb = np.clip(photo[:, left:left + size[0]] + rng.normal(0, 4, (size[1], size[0], 3)), 0, 255)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")))
        container.mux(stream.encode(None))


def files_in(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def fast_values(content: Path, model: list[Path]) -> dict:
    return dict(content=handle_file(content), style="Custom model", model_files=[handle_file(f) for f in model],
                repo_id="", strength=1.0, color="none", precision="auto", compiled=True)


def image_values(size: int, steps: int, **extra) -> dict:
    values = dict(content=handle_file(IMAGES / "chelsea.jpg"), styles=[handle_file(IMAGES / "style_mosaic.jpg")],
                  size=size, steps=steps)  # every other setting at its declared default
    values.update(extra)
    return values


def worst_image(budget) -> tuple[dict, object]:
    """The largest-memory /image request the budget allows: fp32, style scale 2, the largest size that fits,
    one step at each scale but the last (three there), so that it finishes in reasonable time."""
    from nst_core import ImageSettings, cost
    from nst_core.runtime import pick_runtime

    runtime, content, style = pick_runtime("auto", "fp32"), (451, 300), [(512, 512)]
    for size in range(budget.image_size, 127, -64):
        scales = len(ImageSettings(size=size).scales())
        schedule = (1,) * (scales - 1) + (3,)
        settings = ImageSettings(size=size, precision="fp32", style_scale=2.0, schedule=schedule)
        estimate = cost.image_cost(settings, runtime, content, style)
        if cost.fits(estimate, budget):
            return image_values(size, 3, precision="fp32", style_scale=2.0,
                                schedule=", ".join(map(str, schedule))), estimate
    raise RuntimeError("no image request fits the budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soak", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    from nst_core import cost
    from nst_core.audio.backends import ShallowNet
    from nst_core.audio.optimize import AudioSettings
    from nst_core.budget import Budget
    from nst_core.image.fast import FastSettings, FastStyle, TransformerNet, save_fast_model
    from nst_core.runtime import pick_runtime
    from nst_core.video import VideoSettings

    budget = Budget.from_env()
    folder = Path(tempfile.mkdtemp(prefix="nst-serve-bench-"))
    torch.manual_seed(0)
    save_fast_model(TransformerNet(), folder / "style", FastStyle("x", "Bench", "", value_range=255,
                                                                   channel_order="rgb"))
    model = [folder / "style" / "model.safetensors", folder / "style" / "config.json"]
    side = int((budget.fast_megapixels * 1e6 * 2.25) ** 0.5)  # 3:2, 1.5 times the pixels the budget lets through
    big = folder / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side * 2 // 3, side, 3), dtype=np.uint8)).save(big)
    samples, rate = soundfile.read(AUDIO / "piano_melody.flac", dtype="float32")
    samples = samples.mean(axis=1) if samples.ndim == 2 else samples
    long_clip = folder / "long.wav"
    soundfile.write(long_clip, np.tile(samples, 40)[: int(budget.audio_seconds * rate)], rate)

    print(f"# {machine()}")
    print(f"# budget: {budget.describe()}")
    app, url = start_app(folder)
    watch = Process(app.pid)
    client = Client(url, verbose=False)
    try:
        # The estimates are for compiled passes: until the warm-up has built them, passes run eagerly (slower,
        # and more memory), beside the building.
        wait_for(WARMED, folder / "app.log")
        client.predict(**fast_values(IMAGES / "coffee.jpg", model), api_name="/fast")
        print(f"# app idle: {watch.rss_mb():.0f} MB resident")
        print("\n| endpoint | request at the budget's edge | peak MB measured / estimated | seconds measured / "
              "estimated |\n|---|---|---|---|")
        values, estimate = worst_image(budget)
        seconds, peak, _ = watch.measure(lambda: client.predict(**values, api_name="/image"))
        print(f"| /image | {values['size']} px, fp32, style x2, schedule {values['schedule']} | {peak:.0f} / "
              f"{estimate.memory_mb:.0f} | {seconds:.1f} / {estimate.seconds:.1f} |", flush=True)

        width, height = Image.open(big).size
        scale = min(1.0, (budget.fast_megapixels * 1e6 / (width * height)) ** 0.5)
        capped = (round(width * scale), round(height * scale))
        estimate = cost.fast_cost(FastSettings(), pick_runtime(), capped, compiled=True)
        seconds, peak, _ = watch.measure(lambda: client.predict(**fast_values(big, model), api_name="/fast"))
        print(f"| /fast | {width}x{height} upload, capped to {capped[0]}x{capped[1]}, compiled | {peak:.0f} / "
              f"{estimate.memory_mb:.0f} | {seconds:.1f} / {estimate.seconds:.1f} |", flush=True)

        filters = budget.audio_filters
        steps = 6
        settings = AudioSettings(steps=steps, adaptive=False, griffin_lim_iterations=10)
        estimate = cost.audio_cost(ShallowNet(filters=(filters,), kernel=31), settings, pick_runtime(),
                                   budget.audio_seconds)
        audio = dict(content=handle_file(long_clip), style=handle_file(AUDIO / "rain.flac"), griffin_lim_iterations=10,
                     adaptive=False, steps=steps, filters=str(filters), kernel=31)
        seconds, peak, _ = watch.measure(lambda: client.predict(**audio, api_name="/audio_shallow"))
        print(f"| /audio_shallow | {budget.audio_seconds:g} s, {filters} filters, kernel 31, {steps} steps | "
              f"{peak:.0f} / {estimate.memory_mb:.0f} | {seconds:.1f} / {estimate.seconds:.1f} |", flush=True)

        clip, frames, size = folder / "clip.mp4", int(budget.video_seconds * 12), (1280, 720)
        write_clip(clip, frames, size)
        settings = VideoSettings()
        estimate = cost.video_cost(settings, pick_runtime(), frames, size, compiled=True)
        video = dict(video=handle_file(clip), style="Custom model", model_files=[handle_file(f) for f in model],
                     compiled=True)
        seconds, peak, _ = watch.measure(lambda: client.predict(**video, api_name="/fast_video"))
        print(f"| /fast_video | {budget.video_seconds:g} s at 12 fps, {size[0]}x{size[1]}, compiled | {peak:.0f} / "
              f"{estimate.memory_mb:.0f} | {seconds:.1f} / {estimate.seconds:.1f} |", flush=True)

        frame = folder / "frame.png"
        Image.open(IMAGES / "astronaut.jpg").convert("RGB").resize((640, 480)).save(frame)
        live = dict(frame=handle_file(frame), style="Custom model", model_files=[handle_file(f) for f in model],
                    repo_id="", strength=1.0, color="none", frame_size=budget.live_frame_side)
        estimate = cost.fast_cost(FastSettings(), pick_runtime(), (512, 384), compiled=True)
        seconds, peak, _ = watch.measure(lambda: client.predict(**live, api_name="/fast_live"))
        print(f"| /fast_live | a 640x480 frame at {budget.live_frame_side} px | {peak:.0f} / "
              f"{estimate.memory_mb:.0f} | {seconds:.2f} / {estimate.seconds:.2f} |", flush=True)

        # Cancel to idle.
        job = client.submit(**image_values(1024, 40), api_name="/image")
        while not job.outputs():
            time.sleep(0.1)
        time.sleep(8.0)
        busy = watch.cpu_s()
        time.sleep(1.0)
        busy = watch.cpu_s() - busy
        job.cancel()
        cancelled = time.monotonic()
        print(f"\ncancel-to-idle (a 1024 px run using {busy:.1f} cores, cancelled 8 s in): "
              f"{watch.idle_after(cancelled):.2f} s", flush=True)

        # /fast latency alone, then beside a busy heavy slot.
        def fast_once() -> float:
            started = time.perf_counter()
            Client(url, verbose=False).predict(**fast_values(IMAGES / "coffee.jpg", model), api_name="/fast")
            return time.perf_counter() - started

        def live_once() -> float:
            started = time.perf_counter()
            client.predict(**live, api_name="/fast_live")
            return time.perf_counter() - started

        alone = statistics.median(fast_once() for _ in range(args.repeats))
        live_alone = statistics.median(live_once() for _ in range(args.repeats))
        heavy = client.submit(**image_values(512, 40), api_name="/image")
        while not heavy.outputs():
            time.sleep(0.1)
        beside = statistics.median(fast_once() for _ in range(args.repeats))
        live_beside = statistics.median(live_once() for _ in range(args.repeats))
        heavy.cancel()
        print(f"/fast latency (coffee.jpg, compiled, median of {args.repeats}, new client each): alone "
              f"{alone:.2f} s, beside a 512 px /image run {beside:.2f} s; /fast_live (one 512 px frame): alone "
              f"{live_alone:.2f} s, beside it {live_beside:.2f} s", flush=True)
        watch.idle_after(time.monotonic())

        # Soak.
        time.sleep(1.0)
        before_mb, stores = watch.rss_mb(), (folder / "results", folder / "gradio")
        before_files = [files_in(store) for store in stores]
        started = time.perf_counter()
        for index in range(args.soak):
            if index % 4 == 3:
                client.predict(**image_values(64, 2), api_name="/image")
            else:
                client.predict(**fast_values(IMAGES / "coffee.jpg", model), api_name="/fast")
        print(f"soak: {args.soak} calls ({args.soak // 4} /image at 64 px, the rest /fast) in "
              f"{time.perf_counter() - started:.0f} s; resident memory {before_mb:.0f} -> {watch.rss_mb():.0f} MB; "
              f"files in the results folder {before_files[0]} -> {files_in(stores[0])}, in Gradio's cache "
              f"{before_files[1]} -> {files_in(stores[1])}", flush=True)
    finally:
        app.terminate()
        app.wait(timeout=30)
    print(f"after exit: results folder {'gone' if not (folder / 'results').exists() else 'left'}, "
          f"{files_in(folder / 'results')} files")


if __name__ == "__main__":
    main()
