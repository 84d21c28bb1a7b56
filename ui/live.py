"""The live webcam: each frame stylized by the compiled Fast styles network, its knobs :class:`LiveSettings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from nst_core import InvalidInput, cost
from nst_core.image import fast
from nst_core.image.io import fitted_size, load_image, read_megapixels
from nst_core.video import FrameStylizer, LiveSettings

from . import state
from .endpoint import checked_picture, offer, validator_for
from .form import Form
from .serving import Image, as_request
from .style_choice import StyleChoice, check_style, chosen_model, style_reading

FRAME = "live frame"
DESCRIPTION = ("Stylize one webcam frame (a picture) with a Fast style, scaled to the frame size: what the page's "
               "live stream does for each frame. Returns the stylized frame.")


@dataclass(frozen=True)
class LiveJob:
    settings: LiveSettings
    frame_size: tuple[int, int] | None  # (width, height) the frame is stylized at; None without a frame


def live_job(choice: StyleChoice, form: Form, values: Mapping[str, Any]) -> LiveJob:
    """A live request's settings and frame size; refused when its frame or style cannot be used, or when reading
    its pictures would take longer than the live reading budget: they are read on the live slots every visitor's
    stream shares (a frame's side is capped, but not the picture sent as one)."""
    check_style(values)
    settings = LiveSettings(**choice.form.values(values), **form.values(values))
    settings.check(state.BUDGET.limit)
    frame = values.get("frame")
    size = None if frame is None else fitted_frame(frame, settings.frame_size)
    pictures = style_reading(values)
    if size is not None:
        pictures.append(read_megapixels(frame, label=FRAME, max_pixels=size[0] * size[1]))
    reading = cost.reading_cost(pictures).seconds
    state.BUDGET.refuse_over("live_reading_seconds", round(reading, 1), "The estimated time to read these pictures",
                             " s", "send smaller pictures to the live stream (a JPEG reads fastest)")
    return LiveJob(settings, size)


def fitted_frame(frame: Any, frame_size: int) -> tuple[int, int]:
    """The (width, height) a frame is stylized at: fitted to ``frame_size`` (long side), never enlarged; refused
    from its header when under 16 px a side or over the pixels this server decodes."""
    width, height = checked_picture(frame, FRAME)
    if min(width, height) < fast.MIN_FAST_SIDE:
        raise InvalidInput(f"A live frame must be a picture of at least {fast.MIN_FAST_SIDE} pixels a side.")
    return fitted_size(width, height, frame_size, enlarge=False)


def live_frame(choice: StyleChoice, form: Form, values: Mapping[str, Any]) -> np.ndarray | None:
    """One webcam frame (a file, or an array), decoded at the frame size (long side) and stylized by the compiled
    network."""
    frame = values.get("frame")
    if frame is None:
        return None
    job = live_job(choice, form, values)
    width, height = job.frame_size
    picture = load_image(frame, label=FRAME, max_pixels=width * height).image
    settings = job.settings
    stylizer = FrameStylizer(chosen_model(values), strength=settings.strength, color=settings.color,
                             precision=settings.precision, compiler=state.FAST_COMPILER, prepared=state.PREPARED)
    return stylizer(np.asarray(picture), job.frame_size)  # a shrunk picture may be a pixel short


def live_section(choice: StyleChoice) -> None:
    form = Form(LiveSettings, skip=tuple(choice.form.fields))
    with gr.Accordion("Live: your webcam, stylized as it streams", open=False):
        gr.Markdown("Press *Record*: each frame from your camera comes back in the chosen style, a few a second. "
                    "The style, strength, colour and frame size above and here apply while it runs.")
        with gr.Row():
            # 640x480 is plenty for frames of at most 512 px, and a full-size camera frame per 0.1 s is what
            # limits the rate a visitor sees (the network is not).
            # A file, decoded here at the frame size: Gradio decoded any picture sent as a frame whole (a 400 MP
            # PNG of 430 kB took 31 s and 12 GB) before any check could read its header.
            webcam = Image(label="Webcam", sources=["webcam"], streaming=True, type="filepath", image_mode=None,
                           webcam_options=gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640},
                                                                                  "height": {"ideal": 480}}}))
            live = gr.Image(label="Live result", type="numpy", interactive=False)
        form.render_panel("basic")
    inputs = {"frame": webcam, **choice.inputs(), **form.inputs()}

    def stylize_live_frame(**values: Any) -> np.ndarray | None:
        return live_frame(choice, form, values)

    def check(values: Mapping[str, Any]) -> LiveJob:
        return live_job(choice, form, values)

    # No trigger_mode here: Gradio 6.31 with trigger_mode="always_last" sends a stream's first frame only.
    webcam.stream(
        as_request(stylize_live_frame), inputs_kwargs=inputs, outputs=live, stream_every=0.1, time_limit=300,
        concurrency_limit=state.LIVE_SLOTS, concurrency_id=state.LIVE, show_progress="hidden",
        validator=validator_for(check, state.LIVE),
        # The browser's stream; gradio_client cannot read streaming replies, so clients get the same handler, one
        # frame per call, as /fast_live below.
        api_name="fast_live_stream", api_visibility="private",
    )
    offer(gr.Button(visible=False), stylize_live_frame, check=check, api_name="fast_live", description=DESCRIPTION,
          inputs=inputs, outputs=[live], concurrency_id=state.LIVE, concurrency_limit=state.LIVE_SLOTS, gpu=False,
          show_progress="hidden")
