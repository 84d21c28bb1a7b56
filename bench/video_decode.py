"""Decoding a video's frames for a small result: the engine's path against the way frames were read before.

    python bench/video_decode.py               # the three clips below, median of 3 each
    python bench/video_decode.py --repeats 5

A clip's frames are decoded, then stylized at the result's size. The clips: 30 flat frames of 8192x8192 (an
H.264 file of about 100 kB: what a hostile visitor sends), 30 frames of noise at 1280x720 coded losslessly
(the most bits a frame can hold: entropy decoding at its slowest) and 30 frames of a photo panned across at
1920x1080. For each, the median seconds and the peak memory (a fresh process each) of reading every frame at a
256 px long side, by :func:`nst_core.video.io.read_frames` and by :func:`previous` (each frame converted to RGB
at full size, then scaled by torch), and what the estimate says (:func:`nst_core.cost.video_reading_cost`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import machine  # noqa: E402 (after the path set-up)

PHOTO = ROOT / "examples" / "images" / "coffee.jpg"
FRAMES = 30
LONG_SIDE = 256


def clips(folder: Path) -> dict[str, Path]:
    import av
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((3840, 2160), Image.BICUBIC))
    makers = {
        "flat 8192x8192": ((8192, 8192), "20", lambda i: np.full((8192, 8192, 3), 100, np.uint8)),
        "noise 1280x720, lossless": ((1280, 720), "0",
                                     lambda i: rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)),
        "photo panned 1920x1080": ((1920, 1080), "20", lambda i: np.ascontiguousarray(
            photo[i * 20: i * 20 + 1080, i * 40: i * 40 + 1920])),
    }
    paths = {}
    for name, ((width, height), crf, frame_at) in makers.items():
        path = folder / (name.split()[0] + ".mp4")
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": crf}
            for index in range(FRAMES):
                frame = av.VideoFrame.from_ndarray(frame_at(index), format="rgb24")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        paths[name] = path
    return paths


def previous(path: Path, size: tuple[int, int]) -> None:
    """How frames were read before: each converted to RGB at full size, then scaled by torch (antialiased)."""
    import av

    from nst_core.video.stylize import _tensor

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            _tensor(frame.to_ndarray(format="rgb24"), size)


def engine(path: Path, size: tuple[int, int]) -> None:
    from nst_core.video.io import read_frames
    from nst_core.video.stylize import _tensor

    for rgb in read_frames(path, FRAMES, size):
        _tensor(rgb, size)


def measure(way: str, path: Path) -> dict:
    """One reading in a fresh process: seconds, and the peak of its resident memory over what it held before
    (sampled every 2 ms)."""
    code = f"""
import json, os, sys, threading, time
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'bench')!r}]
import video_decode
from nst_core.video.io import probe
from nst_core.video.stylize import output_size
info = probe({str(path)!r}, 60)
size, _ = output_size(info, {LONG_SIDE})
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before, peak, done = rss(), [0.0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
watcher = threading.Thread(target=watch)
watcher.start()
began = time.perf_counter()
video_decode.{way}(__import__('pathlib').Path({str(path)!r}), size)
seconds = time.perf_counter() - began
done.set()
watcher.join()
print(json.dumps({{"seconds": seconds, "peak_mb": max(peak[0], rss()) - before}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT / "bench")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from nst_core import cost
    from nst_core.video.io import probe

    print(machine())
    print("| clip | file | now: seconds, peak MB | before: seconds, peak MB | estimate: seconds, MB |\n"
          "|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, path in clips(Path(folder)).items():
            info = probe(path, 60)
            cells = []
            for way in ("engine", "previous"):
                runs = [measure(way, path) for _ in range(args.repeats)]
                cells.append(f"{statistics.median(r['seconds'] for r in runs):.2f} s, "
                             f"{statistics.median(r['peak_mb'] for r in runs):.0f} MB")
            estimate = cost.video_reading_cost(info.frames, info.width * info.height / 1e6,
                                               path.stat().st_size * 8 / 1e6)
            print(f"| {name} | {path.stat().st_size / 1e6:.1f} MB | {cells[0]} | {cells[1]} | "
                  f"{estimate.seconds:.2f} s, {estimate.memory_mb:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
