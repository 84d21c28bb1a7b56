"""Measure what jobs cost on a grid of settings and fit the model behind ``nst_core.cost``.

Each group of grid points (one network and precision) runs in a fresh interpreter; a sampler thread reads the
process's resident memory every 2 ms, so each point's peak is its own (above the memory held before it
started: the interpreter, torch and the network). Times are whole runs, inputs decoded. The coefficients are
non-negative least squares on relative errors; ``nst_core/data/cost_model.json`` receives them with every grid
point's measured and estimated figures, and the table printed here is the check: the estimate must be within
about 30 % of the measurement on the grid.

    python bench/cost_fit.py                 # every group (about 45 minutes on 2 cores), then the reference units
                                             # (with --groups: the units that stand for those groups)
    python bench/cost_fit.py --groups image/vgg19/fast audio/shallow/fast
    python bench/cost_fit.py --units         # only record the calibration units (nst_core.calibration) of this machine
    python bench/cost_fit.py --units read    # only the reading unit (with bench/decode.py's figures, which it scales)
    python bench/cost_fit.py --check         # a few jobs on this machine: each estimate's error before and after
                                             # calibrating against the recorded units
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_resident_mb, resident_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGES, AUDIO = ROOT / "examples" / "images", ROOT / "examples" / "audio"
MODEL_PATH = ROOT / "nst_core" / "data" / "cost_model.json"

# (long side, style scale, steps): single-scale runs (min_size = size), then one coarse-to-fine run.
IMAGE_POINTS = [(192, 1.0, 1), (192, 1.0, 4), (384, 1.0, 1), (384, 1.0, 4), (384, 2.0, 2), (640, 1.0, 2),
                (768, 1.0, 2), (768, 1.5, 1), (256, 1.0, 60), (512, 1.0, 30)]
IMAGE_MULTISCALE = (512, 1.0, 2)
FAST_MEGAPIXELS = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
VIDEO_POINTS = [(320, 240, 12), (320, 240, 36), (480, 360, 24), (640, 480, 24), (640, 480, 48), (960, 540, 12),
                (1280, 720, 8)]
# Many small frames, where each frame's fixed cost (decoding, the network's calls, encoding) is the cost: without
# them the fit had no per-frame term and read 20000 frames of 16x16 at 1000 fps as 6 s (they took 100). Fitted for
# time only: their memory is the process's noise, and pulled the fit of the large frames' down by a third.
VIDEO_TIME_POINTS = [(32, 32, 300), (64, 48, 200)]
# (filters, kernel, seconds, steps, balance)
SHALLOW_POINTS = [((1024,), 11, 5, 10, False), ((1024,), 11, 10, 20, False), ((2048,), 11, 10, 10, False),
                  ((4096,), 11, 5, 6, False), ((1024, 1024), 11, 10, 10, False), ((1024,), 31, 10, 10, False),
                  ((1024,), 11, 20, 10, False), ((2048, 2048), 5, 20, 4, False), ((1024,), 11, 10, 40, True),
                  ((4096,), 11, 10, 3, False), ((3072,), 31, 5, 3, False), ((512, 512, 512), 11, 30, 6, False),
                  ((4096,), 11, 5, 24, False), ((2048,), 11, 10, 30, False), ((4096,), 5, 10, 12, False),
                  ((1024,), 11, 10, 60, False)]
# (seconds, steps, balance)
FIXED_POINTS = [(5, 10, False), (10, 10, False), (20, 6, False), (30, 4, False), (15, 8, False), (10, 30, True)]


def measure(work) -> tuple[float, float]:
    """(seconds, peak MB above the resident memory before) of ``work()``."""
    from nst_core.control import release_memory

    release_memory()
    time.sleep(0.05)
    base = resident_mb()
    with peak_resident_mb() as peak:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        time.sleep(0.01)
    return seconds, peak() - base


def image_group(backbone: str, precision: str) -> list[dict]:
    from PIL import Image

    from nst_core import ImageSettings, stylize_image
    from nst_core.cost import image_features
    from nst_core.image.backbones import random_backbone

    net = random_backbone(backbone)
    content, style = IMAGES / "chelsea.jpg", IMAGES / "style_mosaic.jpg"
    sizes = (Image.open(content).size, [Image.open(style).size])
    points = []
    warm_up = ImageSettings(backbone=backbone, size=64, min_size=64, steps=1, precision=precision)
    stylize_image(content, [style], warm_up, network=net)
    for size, style_scale, steps in [*IMAGE_POINTS, IMAGE_MULTISCALE]:
        single = (size, style_scale, steps) != IMAGE_MULTISCALE
        settings = ImageSettings(backbone=backbone, size=size, min_size=size if single else 128, steps=steps,
                                 style_scale=style_scale, precision=precision, hold_style_from=None)
        seconds, peak = measure(lambda s=settings: stylize_image(content, [style], s, network=net))
        time_f, memory_f = image_features(settings, *sizes)
        points.append({"point": f"{size} px, style x{style_scale:g}, {steps} steps" + ("" if single else ", 5 scales"),
                       "time_features": time_f, "memory_features": memory_f, "seconds": seconds, "memory_mb": peak})
    return points


def fast_network(precision: str, compiled: bool) -> tuple:
    """A random Fast styles network (the cost does not depend on its weights) and its warmed-up compiler."""
    from nst_core.image import fast

    model = fast.FastModel(fast.TransformerNet().eval().requires_grad_(False),
                           fast.FastStyle("bench", "bench", "", value_range=255, channel_order="rgb"))
    compiler = fast.Compiler() if compiled else None
    if compiler is not None:
        fast.warm_up(compiler, precision)
    return model, compiler


def onepass_network(network: str, precision: str, compiled: bool) -> tuple:
    """A one-pass network with its real weights (they ship with the app): each call makes its model anew, so the
    style predictor's pass (any picture) is part of the measured cost, as in a request; and its warmed-up compiler."""
    from nst_core.image import fast, onepass

    style = ROOT / "examples" / "images" / "style_waves.jpg"

    def model() -> fast.FastModel:
        onepass.styles._vectors.clear()
        return onepass.any_picture_model([style]) if network == "any" else onepass.multistyle_model(7)

    compiler = fast.Compiler() if compiled else None
    if compiler is not None:
        fast.warm_up(compiler, precision, models=[model()])
    return model, compiler


def fast_group(precision: str, compiled: bool, network: str = "johnson") -> list[dict]:
    import torch

    from nst_core.cost import fast_features
    from nst_core.image import fast
    from nst_core.image.io import to_pil

    if network == "johnson":
        model, compiler = fast_network(precision, compiled)
        make = lambda: model  # noqa: E731 (the same network for every call)
    else:
        make, compiler = onepass_network(network, precision, compiled)
    points, settings = [], fast.FastSettings(precision=precision)
    tiled = to_pil(torch.rand(1, 3, 1000, 1200, generator=torch.Generator().manual_seed(1)))
    fast.stylize_fast(tiled, make(), settings, compiler=compiler)  # the first tiled picture may still compile
    for megapixels in FAST_MEGAPIXELS:
        width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
        height = int(megapixels * 1e6 / width)
        picture = to_pil(torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)))
        seconds, peak = measure(lambda p=picture: fast.stylize_fast(p, make(), settings, compiler=compiler))
        points.append({"point": f"{width}x{height}", "seconds": seconds, "memory_mb": peak,
                       **dict(zip(("time_features", "memory_features"), fast_features((width, height), settings)))})
    return points


def video_group(precision: str, compiled: bool) -> list[dict]:
    import av
    import numpy as np

    from nst_core.cost import video_features
    from nst_core.video import VideoSettings, stylize_video

    model, compiler = fast_network(precision, compiled)
    points, folder = [], Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    for index, (width, height, frames) in enumerate([(160, 120, 4), *VIDEO_POINTS, *VIDEO_TIME_POINTS]):  # warm-up
        clip = folder / f"{width}x{height}x{frames}.mp4"
        with av.open(str(clip), mode="w") as container:
            stream = container.add_stream("libx264", rate=12)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for _ in range(frames):
                rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            container.mux(stream.encode(None))
        settings = VideoSettings(precision=precision)
        time_only = (width, height, frames) in VIDEO_TIME_POINTS
        # Twice: a video's peak varies from run to run (the encoder's buffers); the larger one is its cost. A frame
        # as small as a time point's is a shape the compiled graph was not built for: a run first builds it.
        runs = [measure(lambda c=clip, s=settings: stylize_video(c, model, s, output=folder / "out.mp4",
                                                                       compiler=compiler))
                for _ in range(3 if time_only else 2)][-2:]
        seconds, peak = sum(r[0] for r in runs) / 2, max(r[1] for r in runs)
        if index:
            time_features, memory_features = video_features(frames, (width, height))
            if time_only:
                memory_features = {}  # a row of zeros: no part in the memory fit
            points.append({"point": f"{width}x{height}, {frames} frames", "seconds": seconds, "memory_mb": peak,
                           "time_features": time_features, "memory_features": memory_features})
    return points


def audio_group(backend_name: str, precision: str) -> list[dict]:
    import numpy as np
    import soundfile

    from nst_core.audio.backends import CNN14, ShallowOptions, VGGish, load_backend
    from nst_core.audio.optimize import AudioSettings, stylize_audio
    from nst_core.cost import audio_features

    content, _ = soundfile.read(AUDIO / "piano_melody.flac", dtype="float32")
    style, rate = soundfile.read(AUDIO / "string_pad.flac", dtype="float32")

    def clip(samples: np.ndarray, seconds: float) -> tuple[int, np.ndarray]:
        samples = samples.mean(axis=1) if samples.ndim == 2 else samples
        return rate, np.tile(samples, int(seconds * rate / len(samples)) + 1)[: int(seconds * rate)]

    if backend_name == "shallow":
        grid = [(ShallowOptions(filters=f, kernel=k), s, n, b) for f, k, s, n, b in SHALLOW_POINTS]
    else:
        options = {"vggish": None, "cnn14": None, "genre": None}[backend_name]
        grid = [(options, s, n, b) for s, n, b in FIXED_POINTS]
    points = []
    for options, seconds_of_sound, steps, balance in grid:
        if backend_name == "vggish":
            backend = VGGish().eval().requires_grad_(False)
        elif backend_name == "cnn14":
            backend = CNN14().eval().requires_grad_(False)
        else:
            backend = load_backend(backend_name, options)
        settings = AudioSettings(backend=backend_name, steps=steps, precision=precision, griffin_lim_iterations=30,
                                 adaptive=balance, options=options)
        done = []
        seconds, peak = measure(lambda s=settings, b=backend, n=seconds_of_sound, d=done: stylize_audio(
            clip(content, n), [clip(style, 10)], s, backend=b, on_progress=lambda e: d.append(e.done)))
        ran = settings
        if balance:  # the balance may stop early: the model is fitted on the steps it ran
            import dataclasses

            ran = dataclasses.replace(settings, steps=max(done))
        time_f, memory_f = audio_features(backend, ran, seconds_of_sound)
        label = (f"filters {options.filters}, kernel {options.kernel}, " if backend_name == "shallow" else "")
        points.append({"point": f"{label}{seconds_of_sound} s, {ran.steps} steps" + (", balance" if balance else ""),
                       "time_features": time_f, "memory_features": memory_f, "seconds": seconds, "memory_mb": peak})
    return points


GROUPS = {
    **{f"image/{b}/{c}": (image_group, (b, p)) for b in ("vgg19", "vgg16", "resnet50")
       for c, p in (("fast", "auto"), ("fp32", "fp32"))},
    **{f"{kind}/{c}/{'compiled' if compiled else 'eager'}": (group, (p, compiled))
       for kind, group in (("fast", fast_group), ("video", video_group))
       for c, p in (("fast", "auto"), ("fp32", "fp32")) for compiled in (True, False)},
    **{f"onepass-{n}/{c}/{'compiled' if compiled else 'eager'}": (fast_group, (p, compiled, n))
       for n in ("any", "26") for c, p in (("fast", "auto"), ("fp32", "fp32")) for compiled in (True, False)},
    **{f"audio/{b}/{c}": (audio_group, (b, p)) for b in ("shallow", "vggish", "cnn14", "genre")
       for c, p in (("fast", "auto"), ("fp32", "fp32"))},
}


def fit(points: list[dict], kind: str) -> dict[str, float]:
    """Non-negative coefficients minimizing the relative error of ``kind`` ('time' or 'memory')."""
    import numpy as np
    from scipy.optimize import nnls

    target = "seconds" if kind == "time" else "memory_mb"
    names = sorted({name for p in points for name in p[f"{kind}_features"]})
    rows = np.array([[p[f"{kind}_features"].get(n, 0.0) for n in names] for p in points])
    # Floors keep tiny figures (a few MB, a few ms) from steering the fit: they are noise, not cost.
    values = np.array([max(p[target], 50.0 if kind == "memory" else 0.05) for p in points])
    solution, _ = nnls(rows / values[:, None], np.ones(len(points)))
    return {name: float(c) for name, c in zip(names, solution) if c > 0}


def check() -> None:
    """Default-looking jobs of each kind on this machine: the estimate before and after calibration against the
    measured time. Each job is measured as the fit's grid measured it and as a visitor's request meets it: after
    a warm-up at another size (which loads the network), runs at sizes not yet seen (the job's, 16 px less, 16 px
    more), so the kernels for their shapes are still to be picked; the table gives the medians of those runs
    (one job's time varies by a third from run to run on a shared machine). The units are measured first, in
    this process, as the app does at start-up."""
    import torch

    from nst_core import AudioSettings, FastSettings, ImageSettings, cost, stylize_audio, stylize_fast, stylize_image
    from nst_core.audio.backends import load_backend
    from nst_core.calibration import CALIBRATION
    from nst_core.image.fast import FastModel, FastStyle, TransformerNet
    from nst_core.image.io import to_pil
    from nst_core.runtime import pick_runtime

    print(f"# {machine()}")
    factors = CALIBRATION.run(cost.reference_units())
    print("# factors: " + ", ".join(f"{k} x{v:.2f}" for k, v in sorted(factors.items())))
    runtime = pick_runtime()
    content, style = IMAGES / "chelsea.jpg", IMAGES / "style_mosaic.jpg"
    model = FastModel(TransformerNet().eval().requires_grad_(False),
                      FastStyle("bench", "bench", "", value_range=255, channel_order="rgb"))
    jobs = []  # (label, run at a size, estimate, the job's size, the warm-up's)
    for size, steps in ((256, 10), (512, 10)):
        image = lambda z, n=steps: ImageSettings(size=z, steps=n, hold_style_from=None)  # noqa: E731
        jobs.append((f"image {size} px, {steps} steps/scale",
                     lambda z, i=image: stylize_image(content, [style], i(z)),
                     lambda z, i=image: cost.image_cost(i(z), runtime, (z, round(z * 0.67)), [(z, z)]),
                     size, size - 32))
    for megapixels in (0.5, 2.0):
        width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
        height = int(megapixels * 1e6 / width)
        jobs.append((f"fast {width}x{height} eager",
                     lambda w, h=height: stylize_fast(to_pil(torch.rand(1, 3, h, w)), model, FastSettings()),
                     lambda w, h=height: cost.fast_cost(FastSettings(), runtime, (w, h), compiled=False),
                     width, width - 32))
    audio_settings = AudioSettings(steps=20, adaptive=False, griffin_lim_iterations=30)
    # An audio job's shapes are its segments', the same for every clip: the warm-up is the job itself.
    jobs.append(("audio shallow 10 s, 20 steps",
                 lambda _: stylize_audio(AUDIO / "piano_melody.flac", [AUDIO / "string_pad.flac"], audio_settings),
                 lambda _: cost.audio_cost(load_backend("shallow", None), audio_settings, runtime, 8.0), 0, 0))
    print("| job | measured s | estimate before | error | estimate after | error |\n|---|---|---|---|---|---|")
    for label, run, estimate, size, warm_up_size in jobs:
        run(warm_up_size)
        measured, before, after = [], [], []
        for offset in ((0, -16, 16) if size else (0, 0, 0)):
            after.append(estimate(size + offset).seconds)
            saved, CALIBRATION.factors = CALIBRATION.factors, {}
            before.append(estimate(size + offset).seconds)
            CALIBRATION.factors = saved
            started = time.perf_counter()
            run(size + offset)
            measured.append(time.perf_counter() - started)
        seconds = statistics.median(measured)
        errors = [statistics.median(e / m - 1 for e, m in zip(estimates, measured)) for estimates in (before, after)]
        print(f"| {label} | {seconds:.1f} | {statistics.median(before):.1f} | {errors[0]:+.0%} | "
              f"{statistics.median(after):.1f} | {errors[1]:+.0%} |", flush=True)


def record_units(groups: list[str] | None = None, names: list[str] | None = None) -> dict[str, float]:
    """The calibration units of this machine, measured in a fresh interpreter, written beside the fit: those that
    stand for ``groups``, at the groups' precision classes only, so that each reference unit is recorded with the
    fit it calibrates; or the units ``names`` (all, without either)."""
    import subprocess

    from nst_core.calibration import UNITS, unit_key

    keys = {unit_key(group) for group in groups} if groups else None
    names = sorted({key.split("/")[0] for key in keys} if keys else names or UNITS)
    done = subprocess.run([sys.executable, "-c", "import json; from nst_core.calibration import UNITS, measure_units; "
                           f"print(json.dumps(measure_units({{n: UNITS[n] for n in {names!r}}})))"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    units = {key: seconds for key, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items()
             if keys is None or key in keys}
    saved = json.loads(MODEL_PATH.read_text())
    saved["units"], saved["units_machine"] = {**saved.get("units", {}), **units}, machine()
    MODEL_PATH.write_text(json.dumps(saved, indent=1) + "\n")
    print("# reference units: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(units.items())))
    return units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", nargs="*", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--units", nargs="*", metavar="UNIT",
                        help="only record this machine's calibration units (all, or those named)")
    parser.add_argument("--check", action="store_true", help="estimates before/after calibration on a few jobs")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        function, arguments = GROUPS[args.worker]
        print(json.dumps(function(*arguments)))
        return
    if args.check:
        check()
        return
    if args.units is not None:
        record_units(names=args.units)
        return
    import subprocess

    saved = json.loads(MODEL_PATH.read_text()) if MODEL_PATH.exists() else {"models": {}, "grid": {}}
    print(f"# {machine()}")
    print("| model | point | seconds measured / estimated | peak MB measured / estimated |")
    print("|---|---|---|---|")
    for group in args.groups:
        done = subprocess.run([sys.executable, __file__, "--worker", group], capture_output=True, text=True,
                              cwd=ROOT)
        if done.returncode:
            print(f"| {group} | failed: {done.stderr.strip().splitlines()[-1:]} | | |")
            continue
        points = json.loads(done.stdout.strip().splitlines()[-1])
        model = {"time": fit(points, "time"), "memory": fit(points, "memory")}
        saved["models"][group] = model
        for point in points:
            point["estimated_seconds"] = sum(model["time"].get(k, 0) * v for k, v in point["time_features"].items())
            point["estimated_mb"] = sum(model["memory"].get(k, 0) * v for k, v in point["memory_features"].items())
            print(f"| {group} | {point['point']} | {point['seconds']:.2f} / {point['estimated_seconds']:.2f} "
                  f"({point['estimated_seconds'] / point['seconds'] - 1:+.0%}) | {point['memory_mb']:.0f} / "
                  f"{point['estimated_mb']:.0f} ({point['estimated_mb'] / max(point['memory_mb'], 1) - 1:+.0%}) |",
                  flush=True)
        saved["grid"][group] = points
    saved["machine"] = machine()
    MODEL_PATH.write_text(json.dumps(saved, indent=1) + "\n")
    record_units(args.groups)


if __name__ == "__main__":
    main()
