"""The Image tab: optimization-based style transfer, its form made from :class:`~nst_core.ImageSettings`."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nst_core import InvalidInput, NSTError, cost
from nst_core.image import start
from nst_core.image.backbones import BACKBONES
from nst_core.image.io import read_megapixels, read_png_settings, save_png
from nst_core.image.optimize import ImageProgress, ImageResult, ImageSettings, iter_stylize_image
from nst_core.image.regions import require_mask
from nst_core.options import check_settings, from_record
from nst_core.runtime import pick_runtime

from . import state
from .endpoint import checked_picture, notes, offer
from .figures import LossHistory, loss_plot
from .form import Form
from .layout import content_picture, fresh_markdown, intro
from .models import can_be_had, models_panel, offered
from .region_editor import LABEL, RegionEditor, RegionFiles, region_files, region_mask
from .serving import File, JobControl, streamed

log = logging.getLogger("nst_studio")
DESCRIPTION = ("Restyle a photo with the look of one or more style images by optimization (Gatys et al.): the "
               "picture is refined coarse to fine. Returns (the picture so far or the result, the PNG with its "
               "settings, the status, the loss curves); streams previews while it runs.")


@dataclass(frozen=True)
class ImageJob:
    content: str
    styles: list[str]
    settings: ImageSettings  # without the region's mask, which the run decodes (:meth:`with_mask`)
    cost: cost.Cost
    region: RegionFiles | None = None
    photo_size: tuple[int, int] | None = None

    def with_mask(self) -> ImageSettings:
        """The settings with the region's mask, decoded from the editor's files."""
        return dataclasses.replace(self.settings, mask=region_mask(self.region, self.photo_size))


def image_job(form: Form, values: Mapping[str, Any]) -> ImageJob:
    """The /image endpoint's values as a job, checked against the declarations and the budget, with its cost."""
    content = values.get("content")
    if not content:
        raise InvalidInput("Upload a content image.")
    styles = [s for s in (values.get("styles") or []) if s]
    if not styles:
        raise InvalidInput("Upload at least one style image.")
    sizes = [checked_picture(content, "content image"),
             *(checked_picture(style, f"style image {i + 1}") for i, style in enumerate(styles))]
    region = values.get("region_mask")
    region_pictures = region_files(region)
    for picture in region_pictures:  # decoded by the run, only as far as the mask needs
        checked_picture(picture, LABEL)
    settings = form.settings(values, preview_every=10)
    settings.check(len(styles), state.BUDGET.limit)
    require_mask(settings.outside, bool(region_pictures))  # an editor holding only the photo: refused by the run
    reading = cost.reading_cost([read_megapixels(content, label="content image"),
                                 *(read_megapixels(style, label="style image") for style in styles),
                                 *(read_megapixels(picture, label=LABEL) for picture in region_pictures)])
    estimate = cost.admit_image(settings, pick_runtime(settings.device, settings.precision), sizes[0], sizes[1:],
                                state.BUDGET, reading)
    return ImageJob(content, styles, settings, estimate, region, sizes[0])


def repeated_settings(form: Form, png: str | None) -> list:
    """The form's widgets set to the settings a result PNG stores (read from its header chunks, nothing decoded),
    a setting it lacks left as it is; then the upload emptied, ready for the next PNG."""
    names = list(form.inputs())
    if not png:
        return [*(gr.skip() for _ in names), None]
    try:
        stored = read_png_settings(png)
        if stored is None:
            raise InvalidInput(f"{Path(png).name} stores no settings; the PNG a run gives (PNG with settings) does.")
        values = from_record(ImageSettings, stored)
        check_settings(ImageSettings(**values), state.BUDGET.limit)
    except NSTError as exc:  # a warning, not an error: an error would mark every setting's widget as failed
        log.info("refused: %s", exc)
        gr.Warning(str(exc), title="These settings cannot be used")
        return [*(gr.skip() for _ in names), None]
    shown = form.shown(values)
    gr.Info(f"The settings of {Path(png).name} are set: press Stylize to repeat its run, or change them first.")
    return [*(shown.get(name, gr.skip()) for name in names), None]


def status_line(event: ImageProgress, elapsed: float) -> str:
    """Where the run stands, with the time since it started (one clock for the whole run, not per preview)."""
    if event.done == 0:
        return f"**The one-pass result** ({elapsed:.1f} s): refining it over {event.total} steps."
    terms = ", ".join(f"{name} {value:.4g}" for name, value in event.losses.items())
    width, height = event.size
    return (f"**Step {event.done}/{event.total}**, scale {event.scale_index + 1}/{event.num_scales} "
            f"({width}x{height}), {elapsed:.0f} s so far. Losses: {terms}")


INTRO = ("**Paint a photo in the style of another picture.** Choose an example (or upload a photo and one or more "
         "style images), then press *Stylize*: the picture is refined step by step and shown as it goes.")


def time_hint() -> str:
    """How long the default run takes on this server, and from the one-pass start: the cost model's estimates,
    calibrated once the server has measured itself (read at each page load)."""
    settings = ImageSettings()
    runtime = pick_runtime(settings.device, settings.precision)

    def seconds(run: ImageSettings) -> float:
        return cost.image_cost(run, runtime, (run.size, round(run.size * 2 / 3)), [(run.size, run.size)]).seconds

    faster = (f" ({duration(seconds(ImageSettings(init='one-pass')))} starting from the one-pass result: Advanced, "
              "*Start from*)" if all(can_be_had(key) for key in start.WEIGHTS) else "")
    largest = cost.largest_image_size(settings, runtime, state.BUDGET)
    limit = f" up to {largest} px fit its budget" if largest else " no size fits its budget"
    return (f"A {settings.size} px picture with the default settings takes {duration(seconds(settings))} on this "
            f"server{faster};{limit} with the default settings.")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    return f"about {seconds / 60:.0f} min" if seconds < 3600 else f"about {seconds / 3600:.1f} h"
SCIENCE = ("Optimization-based style transfer (Gatys et al. 2016): starting from the photo, the picture is changed "
           "coarse to fine until a pretrained network's features of it match the photo's (its content) and the "
           "correlations between those features match the style images' (their texture, colour and strokes). "
           "The loss curves show both terms falling.")


def style_previews(files: list[str] | None) -> list[str]:
    """The style uploads as pictures (the file input itself lists names)."""
    return [f for f in files or [] if f]


def gallery_files(photo: str | None, gallery: list | None) -> list[str]:
    """The files of a gallery's items (a path, or (path, caption))."""
    return [item[0] if isinstance(item, (list, tuple)) else item for item in gallery or []]


def image_tab() -> None:
    form = Form(ImageSettings)
    with gr.Tab("Image"):
        intro(INTRO, SCIENCE)
        fresh_markdown(time_hint, elem_classes="time-hint")
        content = content_picture()
        styles = File(label="Style images (one or more)", file_count="multiple", file_types=["image"],
                      type="filepath", height=110, render=False)
        styles.api_example = [content.example_payload()]
        previews = gr.Gallery(label="Style images", columns=6, rows=1, height=110, allow_preview=False,
                              interactive=False, object_fit="cover", elem_classes="style-previews", render=False)
        examples = [[state.IMAGES / "chelsea.jpg", [state.IMAGES / "style_mosaic.jpg"]],
                    [state.IMAGES / "coffee.jpg", [state.IMAGES / "style_swirls.jpg"]],
                    [state.IMAGES / "astronaut.jpg",
                     [state.IMAGES / "style_waves.jpg", state.IMAGES / "style_swirls.jpg"]]]
        # Shown as pictures (the previews gallery); a click also fills the style upload itself.
        gr.Examples([[str(c), [str(s) for s in ss]] for c, ss in examples], inputs=[content, previews],
                    outputs=[styles], fn=gallery_files, run_on_click=True, cache_examples=False,
                    label="Examples: click one, then Stylize", api_visibility="private")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=320):
                content.render()
                styles.render()
                previews.render()
                form.render("backbone", "size")
                network = form.widgets["backbone"]  # each network marked where it cannot run here, before a click
                network.choices = [(offered(label, BACKBONES[name].weights), name) for label, name in network.choices]
                form.render("steps", "color")
                run = gr.Button("Stylize", variant="primary", size="lg")
                with gr.Accordion("Advanced", open=False):
                    form.render("style_weight", "style_blend")
                    form.render_panel("advanced", per_row=2)
                    repeat = File(label="Settings from a result PNG (to repeat or vary a run)", file_types=[".png"],
                                  type="filepath")
                with gr.Accordion("Style by region", open=False):
                    gr.Markdown("Paint over the photo where the style should go, or upload a black-and-white mask: "
                                "white takes the style. *Outside the region* (Advanced) says what goes elsewhere.")
                    region_mask = RegionEditor(label="Region", type="filepath", sources=["upload", "clipboard"],
                                               brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"), height=300)
            with gr.Column(min_width=320):
                result = gr.Image(label="Result", type="filepath", format="png", interactive=False, height=420,
                                  elem_classes="fitted-result")
                status = gr.Markdown(label="Status", elem_classes="status")
                download = gr.File(label="PNG with settings", interactive=False)
                losses = loss_plot("Loss curves")
        models_panel({spec.label: spec.weights for spec in BACKBONES.values()})
    styles.change(style_previews, styles, previews, api_visibility="private", queue=False)
    repeat.upload(functools.partial(repeated_settings, form), repeat, [*form.inputs().values(), repeat],
                  api_visibility="private", show_progress="hidden")  # queued: only then do warnings reach the page
    # The region editor starts from the photo, so that a visitor paints on it instead of loading it twice. It is
    # set in the page: an editor value set by the server made Gradio 6.31 upload the editor's three layers again
    # at every message of a running job (twice a second, about 1 MB/s for a 512 px photo).
    content.change(None, content, region_mask, api_visibility="private", queue=False,
                   js="(photo) => photo && {background: photo, layers: [], composite: photo}")

    def check(values: Mapping[str, Any]) -> ImageJob:
        return image_job(form, values)

    # region_mask is named here so that the client API marks it optional (its editor starts empty).
    def stylize_image(progress: gr.Progress = gr.Progress(), *, region_mask: dict | None = None,
                      **values: Any) -> Iterator[tuple]:
        job = check({**values, "region_mask": region_mask})
        history = LossHistory(skip=("total",))

        def work(control: JobControl) -> Iterator[tuple]:
            for event in iter_stylize_image(job.content, job.styles, job.with_mask(), prepared=state.PREPARED,
                                            control=control):
                if isinstance(event, ImageResult):
                    stem = f"stylized-{job.settings.backbone}-seed{job.settings.seed}"
                    path = save_png(event.image, state.STORE.path(stem, ".png"), event.settings)
                    done = f"{event.facts['steps']} steps over {event.facts['scales']} scales"
                    yield (str(path), str(path), f"Done in {event.seconds:.1f} s ({done}) on {event.runtime}. "
                           f"Settings are stored in the PNG.{notes(event.notices)}", history.figure())
                    return
                progress((event.done, event.total), desc="Stylizing")
                history.add(event.done, event.losses)
                if event.preview is not None:
                    preview = save_png(event.preview, state.STORE.path("preview", ".png"))
                    yield str(preview), None, status_line(event, time.monotonic() - control.started), \
                        history.figure()

        yield from streamed(work, JobControl(state.BUDGET.limit("seconds")), outputs=4)

    offer(run, stylize_image, check=check, api_name="image", description=DESCRIPTION,
          inputs={"content": content, "styles": styles, **form.inputs(), "region_mask": region_mask},
          outputs=[result, download, status, losses], show_progress_on=[status])

