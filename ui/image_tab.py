"""The Image tab: optimization-based style transfer, its form made from :class:`~nst_core.ImageSettings`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from nst_core import InvalidInput, cost
from nst_core.image.backbones import BACKBONES
from nst_core.image.io import image_size, save_png
from nst_core.image.optimize import ImageProgress, ImageResult, ImageSettings, iter_stylize_image
from nst_core.runtime import pick_runtime

from . import state
from .endpoint import notes, offer
from .figures import LossHistory, loss_plot
from .form import Form, mask_from_editor
from .models import models_panel
from .serving import File, Image, ImageEditor, JobControl, streamed

DESCRIPTION = ("Restyle a photo with the look of one or more style images by optimization (Gatys et al.): the "
               "picture is refined coarse to fine. Returns (the picture so far or the result, the PNG with its "
               "settings, the status, the loss curves); streams previews while it runs.")


@dataclass(frozen=True)
class ImageJob:
    content: str
    styles: list[str]
    settings: ImageSettings
    cost: cost.Cost


def checked_picture(path: str, label: str) -> tuple[int, int]:
    """An upload's size from its header, refused before decoding when it claims more pixels than allowed."""
    width, height = image_size(path, label=label)
    state.BUDGET.refuse_over("decode_megapixels", round(width * height / 1e6, 1), f"The {label} ({width}x{height})",
                             " MP", "upload a smaller picture")
    return width, height


def image_job(form: Form, values: Mapping[str, Any]) -> ImageJob:
    """The /image endpoint's values as a job, checked against the declarations and the budget, with its cost."""
    content = values.get("content")
    if not content:
        raise InvalidInput("Upload a content image.")
    styles = [s for s in (values.get("styles") or []) if s]
    if not styles:
        raise InvalidInput("Upload at least one style image.")
    settings = form.settings(values, preview_every=10, mask=mask_from_editor(values.get("region_mask")))
    settings.check(len(styles), state.BUDGET.limit)
    sizes = [checked_picture(content, "content image"),
             *(checked_picture(style, f"style image {i + 1}") for i, style in enumerate(styles))]
    estimate = cost.admit_image(settings, pick_runtime(settings.device, settings.precision), sizes[0], sizes[1:],
                                state.BUDGET)
    return ImageJob(content, styles, settings, estimate)


def status_line(event: ImageProgress) -> str:
    terms = ", ".join(f"{name} {value:.4g}" for name, value in event.losses.items())
    width, height = event.size
    return (f"Step {event.done}/{event.total}, scale {event.scale_index + 1}/{event.num_scales} "
            f"({width}x{height}): {terms}")


def image_tab() -> None:
    form = Form(ImageSettings)
    with gr.Tab("Image"):
        gr.Markdown(
            "Optimization-based style transfer (Gatys et al.): the picture is refined step by step, "
            "coarse to fine, until its VGG features match the content photo and its feature correlations "
            "match the style images."
        )
        models_panel({spec.label: spec.weights for spec in BACKBONES.values()})
        with gr.Row():
            with gr.Column():
                content = Image(label="Content image", type="filepath", image_mode=None,
                                sources=["upload", "clipboard"], height=300)
                styles = File(label="Style images (one or more)", file_count="multiple", file_types=["image"],
                              type="filepath")
                styles.api_example = [content.example_payload()]
                form.render("style_blend")
                form.render("backbone", "size")
                form.render("steps", "style_weight")
                form.render("color")
                with gr.Accordion("Advanced", open=False):
                    form.render_panel("advanced")
                with gr.Accordion("Style by region", open=False):
                    gr.Markdown("Paint over the content where the style should go (load the content photo into "
                                "the editor first), or upload a black-and-white mask: white takes the style. "
                                "*Outside the region* (Advanced) says what goes elsewhere.")
                    region_mask = ImageEditor(label="Region", type="numpy", sources=["upload", "clipboard"],
                                              brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"), height=300)
                run = gr.Button("Stylize", variant="primary")
            with gr.Column():
                result = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420)
                download = gr.File(label="PNG with settings", interactive=False)
                status = gr.Markdown(label="Status")
                losses = loss_plot("Loss curves")
        gr.Examples(
            examples=[
                [str(state.IMAGES / "chelsea.jpg"), [str(state.IMAGES / "style_mosaic.jpg")]],
                [str(state.IMAGES / "coffee.jpg"), [str(state.IMAGES / "style_swirls.jpg")]],
                [str(state.IMAGES / "astronaut.jpg"),
                 [str(state.IMAGES / "style_waves.jpg"), str(state.IMAGES / "style_swirls.jpg")]],
            ],
            inputs=[content, styles],
        )

    def check(values: Mapping[str, Any]) -> ImageJob:
        return image_job(form, values)

    # region_mask is named here so that the client API marks it optional (its editor starts empty).
    def stylize_image(progress: gr.Progress = gr.Progress(), *, region_mask: dict | None = None,
                      **values: Any) -> Iterator[tuple]:
        job = check({**values, "region_mask": region_mask})
        history = LossHistory(skip=("total",))

        def work(control: JobControl) -> Iterator[tuple]:
            for event in iter_stylize_image(job.content, job.styles, job.settings, prepared=state.PREPARED,
                                            control=control):
                if isinstance(event, ImageResult):
                    stem = f"stylized-{job.settings.backbone}-seed{job.settings.seed}"
                    path = save_png(event.image, state.STORE.path(stem, ".png"), event.settings)
                    yield (str(path), str(path), f"Done in {event.seconds:.1f} s on {event.runtime}. Settings are "
                           f"stored in the PNG.{notes(event.notices)}", history.frame())
                    return
                progress((event.done, event.total), desc="Stylizing")
                history.add(event.done, event.losses)
                if event.preview is not None:
                    preview = save_png(event.preview, state.STORE.path("preview", ".png"))
                    yield str(preview), None, status_line(event), history.frame()

        yield from streamed(work, JobControl(state.BUDGET.limit("seconds")), outputs=4)

    offer(run, stylize_image, check=check, api_name="image", description=DESCRIPTION,
          inputs={"content": content, "styles": styles, **form.inputs(), "region_mask": region_mask},
          outputs=[result, download, status, losses])

