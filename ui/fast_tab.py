"""The Fast styles tab: a feed-forward network in one pass, its form made from :class:`~nst_core.FastSettings`;
the live webcam (:mod:`.live`) and video (:mod:`.video`) sections below it share its style and settings."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nst_core import InvalidInput, cost
from nst_core.image import fast, onepass
from nst_core.image.io import read_megapixels, save_png
from nst_core.runtime import pick_runtime

from . import state
from .endpoint import checked_picture, notes, offer
from .form import Form
from .layout import content_picture, intro
from .live import live_section
from .models import models_panel
from .serving import JobControl, streamed
from .style_choice import (
    advanced_panel,
    check_style,
    chosen_model,
    compiled,
    cost_network,
    runs_compiled,
    style_choice,
    style_reading,
)
from .video import video_section

DESCRIPTION = ("Restyle a photo in one pass of a feed-forward network: any picture as the style (style='Any picture' "
               "with style_images), one of 26 built-in styles or a mix (style='26 styles' with style_mix), a "
               "pretrained style, or your own model (uploaded, or a Hub repo id). Returns (the result PNG, the "
               "status).")


@dataclass(frozen=True)
class FastJob:
    content: str
    settings: fast.FastSettings
    cost: cost.Cost


def fast_job(form: Form, values: Mapping[str, Any]) -> FastJob:
    """The /fast endpoint's picture and settings, checked, with its estimate (reading the pictures, then the
    network) within the budget; larger pictures are capped (with a notice)."""
    content = values.get("content")
    if not content:
        raise InvalidInput("Upload a content image.")
    width, height = checked_picture(content, "content image")
    check_style(values)
    megapixels = state.BUDGET.limit("fast_megapixels")
    settings = form.settings(values, max_side=int(math.sqrt(megapixels * 1e6)) if megapixels else fast.MAX_FAST_SIDE)
    settings.check(state.BUDGET.limit)
    scale = min(1.0, settings.max_side / math.sqrt(width * height))
    photo = read_megapixels(content, label="content image", max_pixels=settings.max_side**2)
    estimate = cost.reading_cost([photo, *style_reading(values)]).then(
        cost.fast_cost(settings, pick_runtime(settings.device, settings.precision),
                       (round(width * scale), round(height * scale)), compiled=runs_compiled(values),
                       network=cost_network(values)))
    cost.admit(estimate, state.BUDGET, "Reading these pictures and restyling the photo", "upload smaller pictures")
    return FastJob(content, settings, estimate)


INTRO = ("**Restyle a photo in a fraction of a second**, with any picture as the style. Click an example or upload a "
         "photo, choose or upload a style picture, press *Stylize*. Below: the same live on your webcam, or on a "
         "video.")
SCIENCE = ("*Any picture*: Magenta's arbitrary stylization (Ghiasi et al. 2017): a style predictor turns each style "
           "picture into 100 numbers that drive the stylizing network's instance norms; the strength moves those "
           "numbers from the photo's own towards the style's, and several pictures blend by averaging them. *26 "
           "styles*: the network of Dumoulin et al. (2017), any mix of its styles. Both ship with the app and run at "
           "the photo's own size. The pretrained styles are feed-forward networks trained once per painting "
           "(Johnson et al. 2016), fetched from the Hugging Face Hub; train one of your own with "
           "`python -m nst_core.image.train_fast` and load it as a *Custom model*.")


def fast_tab() -> None:
    with gr.Tab("Fast styles"):
        intro(INTRO, SCIENCE)
        content = content_picture()
        gr.Examples([[str(state.IMAGES / "coffee.jpg")], [str(state.IMAGES / "astronaut.jpg")],
                     [str(state.IMAGES / "chelsea.jpg")]], inputs=[content], label="Examples: click one")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=320):
                content.render()
                choice = style_choice()
                run = gr.Button("Stylize", variant="primary", size="lg")
                advanced_panel(choice)
            with gr.Column(min_width=320):
                result = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420,
                                  elem_classes="fitted-result")
                status = gr.Markdown(label="Status", elem_classes="status")

        def check(values: Mapping[str, Any]) -> FastJob:
            return fast_job(choice.form, values)

        def stylize_fast(**values: Any) -> Iterator[tuple[str, str]]:
            job, model, compiler = check(values), chosen_model(values), compiled(values)

            def work(control: JobControl) -> Iterator[tuple[str, str]]:
                result = fast.stylize_fast(job.content, model, job.settings, compiler=compiler,
                                           prepared=state.PREPARED, control=control)
                path = save_png(result.image, state.STORE.path("fast", ".png"), result.settings)
                tiles = f" in {result.tiles} tiles" if result.tiles > 1 else ""
                yield str(path), (f"{model.style.title}: {result.seconds:.2f} s on {result.runtime}{tiles}."
                                  f"{notes(result.notices)}")

            yield from streamed(work, JobControl(), outputs=2)

        offer(run, stylize_fast, check=check, api_name="fast", description=DESCRIPTION, concurrency_id="fast",
              inputs={"content": content, **choice.inputs(), "compiled": choice.compiled},
              outputs=[result, status])
        live_section(choice)
        video_section(choice)
        models_panel({**{entry.description.split(":")[0]: key for key, entry in onepass.WEIGHTS.items()},
                      **{title: style.key for title, style in fast.CATALOGUE.items()}})
