"""The live webcam as a visitor sees it: distinct stylized frames per second in a real browser.

    python bench/live_browser.py                 # a style picture (Any picture), eager and compiled, 3 runs each
    python bench/live_browser.py --style custom  # a custom model of the feed-forward architecture instead
    python bench/live_browser.py --runs 5 --seconds 20

Headless Chromium (Debian's chromium + chromium-driver) with its synthetic camera opens the app, keeps the
default style (*Any picture* with the first example style picture) or chooses a custom model (random weights of
the feed-forward architecture), presses Record, waits 3 s, then counts the
distinct *Live result* pictures over ``--seconds``. Each run is a fresh process: the app, and for the
compiled runs its one-off ``torch.compile`` first (timed separately, excluded). Prints the median rate per mode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(compiled: bool, seconds: float, style: str) -> float:
    """Distinct stylized frames per second seen in the browser, in this process."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from test_browser import choose, click_button, live_frame_address, open_accordion, upload

    import app
    from browser import Page, chromium, wait_until
    from nst_core.image import fast, onepass
    from nst_core.image.fast import FastStyle, TransformerNet, save_fast_model
    from ui import state

    if compiled:
        models = fast.warm_up_models() if style == "custom" else onepass.warm_up_models()
        print(f"compiled in {fast.warm_up(state.FAST_COMPILER, models=models):.0f} s", file=sys.stderr)
    else:
        state.FAST_COMPILER = None
    folder = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    save_fast_model(TransformerNet(), folder, FastStyle("bench", "Bench", "", value_range=255, channel_order="rgb"))
    demo = app.build_app()
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
    try:
        with chromium() as driver:
            page = Page(driver, demo.local_url, folder / "shots").open()
            page.tab("Fast styles")
            if style == "custom":
                choose(page, "Custom model")
                upload(page, "model.safetensors", folder / "model.safetensors", folder / "config.json")
            time.sleep(2)
            open_accordion(page, "Live: your webcam")
            click_button(page, "Click to Access Webcam")
            time.sleep(2)
            click_button(page, "Record")
            wait_until(lambda: live_frame_address(page), 120, "a first stylized frame")
            time.sleep(3)
            seen, started = set(), time.monotonic()
            while time.monotonic() - started < seconds:
                seen.add(live_frame_address(page))
                time.sleep(0.05)
            return len(seen) / seconds
    finally:
        demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--style", choices=["any", "custom"], default="any")
    parser.add_argument("--one", choices=["eager", "compiled"], help=argparse.SUPPRESS)  # a worker's run
    args = parser.parse_args()
    if args.one:
        print(f"{one_run(args.one == 'compiled', args.seconds, args.style):.2f}")
        return
    sys.path.insert(0, str(ROOT))
    from common import machine

    print(f"machine: {machine()}; style: {args.style}")
    for mode in ("eager", "compiled"):
        rates = []
        for _ in range(args.runs):
            done = subprocess.run([sys.executable, __file__, "--one", mode, "--seconds", str(args.seconds),
                                   "--style", args.style],
                                  capture_output=True, text=True, check=True, timeout=900)
            rates.append(float(done.stdout.strip().splitlines()[-1]))
        print(f"| {mode} | {', '.join(f'{r:.1f}' for r in rates)} | median {statistics.median(rates):.1f} frames/s |")


if __name__ == "__main__":
    main()
