"""Neural style transfer studio: the Gradio app.

It only builds the page (the tabs live in :mod:`ui`, one module each, their forms made from nst_core's settings
declarations) and launches it, with the MCP server beside the client API. Run it with ``python app.py``;
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` choose where it listens, ``NST_BUDGET_*`` what a request may cost.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from nst_core import cost, hub, weights
from nst_core.calibration import CALIBRATION
from nst_core.image import compile_cache, fast
from nst_core.runtime import lower_thread_priority
from ui import layout, models, state
from ui.audio_tab import audio_tab
from ui.fast_tab import fast_tab
from ui.image_tab import image_tab
from ui.request_limits import KEPT_S, RequestLimits
from ui.serving import ACTIVITY, own_gradio_cache

log = logging.getLogger("nst_studio")
TITLE = "Neural style transfer studio"
HERE = Path(__file__).resolve().parent
def launch_options() -> dict:
    """How the page is served, by `python app.py` and by the tests alike (Gradio 6 takes these at launch); a new
    dict each time, since Gradio adds its own entries to ``app_kwargs``."""
    # Gradio sends outputs from the working or temp directory only; the results folder may be elsewhere.
    return dict(max_file_size="60mb", theme=gr.themes.Soft(), css_paths=[HERE / "ui" / "page.css"],
                js=(HERE / "ui" / "page.js").read_text(), mcp_server=True, allowed_paths=[str(state.STORE.root)],
                app_kwargs={"middleware": [Middleware(RequestLimits)]})


def build_app() -> gr.Blocks:
    """The page: a tab per job, the Models panels kept fresh, one queue."""
    models.PANELS.clear()
    layout.ON_LOAD.clear()
    own_gradio_cache()
    # Gradio's own copies of uploads and results are deleted after 30 minutes (checked every 5) and at exit.
    with gr.Blocks(title=TITLE, delete_cache=(300, KEPT_S)) as demo:
        gr.Markdown(f"# {TITLE}\nRestyle photos, videos and sounds with the look of another picture or sound: "
                    "choose a tab, click an example, press the button.")
        image_tab()
        fast_tab()
        audio_tab()
        models.keep_fresh(demo)
        layout.refresh_on_load(demo)
    demo.queue(max_size=32)
    state.BLOCKS[:] = [demo]
    log.info("budget: %s", state.BUDGET.describe())
    return demo


def fetch_weights_at_start_up() -> None:
    """Fetch and verify every network in the background; offline, verify only what is on disk. Never waits."""
    if hub.offline_mode():
        cached = [key for key in weights.BY_KEY if hub.cached_path(weights.entry(key)) is not None]
        log.info("weights: HF_HUB_OFFLINE=1, verifying the %d networks on disk, fetching none", len(cached))
        weights.FETCHER.start(cached)
        return
    weights.FETCHER.start()


STOPPING = threading.Event()


WARM_UP_NICENESS = 19  # requests meanwhile run eagerly, not waiting for it: it may yield the cores to them fully


def warm_up_fast_styles() -> None:
    """Compile the Fast styles networks in the background, at a low CPU priority (on a cold cache, over three
    minutes on two cores; at the same priority an Image run beside it took 5x its time), first in a child
    interpreter that fills the compile cache (compiling in this process holds its interpreter lock: requests
    beside it ran up to 1.8x slow), then here from that cache (about 30 s), each graph in a moment without
    requests; a shutdown ends it after the graph being compiled."""
    if state.FAST_COMPILER is None:
        return
    lower_thread_priority(WARM_UP_NICENESS)
    try:
        compile_cache.fill_in_child(stop=STOPPING)
        seconds = fast.warm_up(state.FAST_COMPILER, models=compile_cache.warm_up_models(), stop=STOPPING,
                               activity=ACTIVITY)
        log.info("fast styles: %s in %.0f s", "stopped" if STOPPING.is_set() else "compiled", seconds)
    except Exception:  # noqa: BLE001 - a failed warm-up must not stop the app; requests fall back to eager
        log.exception("fast styles: warm-up failed")


CALIBRATION_WAITS_FOR_WEIGHTS_S = 60.0
CALIBRATION_PATIENCE_S = 120.0  # for quiet moments before the warm-up; the units still pending are read after it


def start_up_in_background() -> None:
    """Calibrate the costs (about 15 s on two cores; the fitted times apply until then), then compile the Fast
    styles networks. The units are timed alone: beside the compile warm-up, the page's construction or a request
    they read 2-8x slow (and every estimate and refusal with them), so they also wait for the weights'
    verification (hashing the files), though not more than a minute for a first start's downloads, and for
    moments without requests; a unit that found none before the warm-up is read after it."""
    try:
        weights.FETCHER.join(CALIBRATION_WAITS_FOR_WEIGHTS_S)
        reference = cost.reference_units()
        CALIBRATION.measure(reference, activity=ACTIVITY, patience_s=CALIBRATION_PATIENCE_S)
        warm_up_fast_styles()
    finally:
        if state.FAST_COMPILER is not None:  # from now on a graph the warm-up did not build is built on request
            state.FAST_COMPILER.release_builds()
    if CALIBRATION.pending and not STOPPING.is_set():
        CALIBRATION.measure(reference, activity=ACTIVITY, patience_s=float("inf"))


def stop(warming: threading.Thread) -> None:
    """SIGTERM: cancel running jobs and remove the results folder and Gradio's cache (the exit handlers), then
    leave. A compilation under way is not waited for: the process ends without unwinding the thread inside
    torch.compile (finalizing the interpreter around it aborted the process), so shutdown takes a moment on
    any CPU, however long its compilations."""
    STOPPING.set()
    if not warming.is_alive():
        sys.exit(0)
    atexit._run_exitfuncs()
    os._exit(0)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    # A Space (or a container) stops the app with SIGTERM: exit through Python, so that running jobs are
    # cancelled and the results folder and Gradio's cache are removed (atexit), instead of dying where it stands.
    warming = threading.Thread(target=start_up_in_background, name="start-up", daemon=True)
    if state.FAST_COMPILER is not None:  # until the warm-up has run, requests run eagerly rather than compile
        state.FAST_COMPILER.hold_builds()
    signal.signal(signal.SIGTERM, lambda *_: stop(warming))
    fetch_weights_at_start_up()
    demo = build_app()
    demo.launch(**launch_options(), prevent_thread_lock=True)
    warming.start()  # once the page is built (its thumbnails run networks) and served
    demo.block_thread()


if __name__ == "__main__":
    main()
