"""The live webcam: each frame stylized by the compiled Fast styles network, its knobs :class:`LiveSettings`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr
import numpy as np

from nst_core import InvalidInput, cost
from nst_core.image import fast
from nst_core.image.io import fitted_size
from nst_core.video import FrameStylizer, LiveSettings

from . import state
from .endpoint import offer, validator_for
from .form import Form
from .serving import Image, as_request
from .style_choice import StyleChoice, check_style, chosen_model, style_reading

DESCRIPTION = ("Stylize one webcam frame (a picture) with a Fast style, scaled to the frame size: what the page's "
               "live stream does for each frame. Returns the stylized frame.")


def live_settings(choice: StyleChoice, form: Form, values: Mapping[str, Any]) -> LiveSettings:
    check_style(values)
    # A new set of style pictures is read on the live slot that every visitor's stream waits for: its reading
    # has a budget of its own (frames have none to fit: their side is capped).
    reading = cost.reading_cost(style_reading(values)).seconds
    state.BUDGET.refuse_over("live_reading_seconds", round(reading, 1), "The estimated time to read these style "
                             "pictures", " s", "upload smaller style pictures for the live stream (a JPEG reads "
                             "fastest)")
    settings = LiveSettings(**choice.form.values(values), **form.values(values))
    settings.check(state.BUDGET.limit)
    return settings


def live_frame(choice: StyleChoice, form: Form, values: Mapping[str, Any]) -> np.ndarray | None:
    """One webcam frame, scaled to the frame size (long side) and stylized by the compiled network."""
    frame = values.get("frame")
    if frame is None:
        return None
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or min(frame.shape[:2]) < fast.MIN_FAST_SIDE:
        raise InvalidInput(f"A live frame must be a picture of at least {fast.MIN_FAST_SIDE} pixels a side.")
    settings = live_settings(choice, form, values)
    stylizer = FrameStylizer(chosen_model(values), strength=settings.strength, color=settings.color,
                             precision=settings.precision, compiler=state.FAST_COMPILER, prepared=state.PREPARED)
    rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame[..., :3]
    return stylizer(rgb, fitted_size(rgb.shape[1], rgb.shape[0], settings.frame_size, enlarge=False))


def live_section(choice: StyleChoice) -> None:
    form = Form(LiveSettings, skip=tuple(choice.form.fields))
    with gr.Accordion("Live: your webcam, stylized as it streams", open=False):
        gr.Markdown("Press *Record*: each frame from your camera comes back in the chosen style, a few a second. "
                    "The style, strength, colour and frame size above and here apply while it runs.")
        with gr.Row():
            # 640x480 is plenty for frames of at most 512 px, and a full-size camera frame per 0.1 s is what
            # limits the rate a visitor sees (the network is not).
            webcam = Image(label="Webcam", sources=["webcam"], streaming=True, type="numpy",
                           webcam_options=gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640},
                                                                                  "height": {"ideal": 480}}}))
            live = gr.Image(label="Live result", type="numpy", interactive=False)
        form.render_panel("basic")
    inputs = {"frame": webcam, **choice.inputs(), **form.inputs()}

    def stylize_live_frame(**values: Any) -> np.ndarray | None:
        return live_frame(choice, form, values)

    def check(values: Mapping[str, Any]) -> LiveSettings:
        return live_settings(choice, form, values)

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
